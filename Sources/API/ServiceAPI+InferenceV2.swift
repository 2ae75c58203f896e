import Foundation
import Support
import HTTP
import Engine
import Storage
import Serving

/// The open inference protocol v2 (KServe, Triton, MLServer): health, model metadata and
/// readiness, and `infer` with typed tensors. Errors use the protocol's shape `{"error": "…"}`.
extension ServiceAPI {
    func v2Error(_ status: Int, _ message: String) -> HTTPResponse {
        JSONResponse.make(status, JSONValue.object(["error": .string(message)]))
    }

    /// Runs a v2 handler, mapping every error to the v2 error shape.
    func v2(_ body: () throws -> HTTPResponse) -> HTTPResponse {
        do { return try body() } catch {
            let e = APIError.from(error)
            return v2Error(e.status, e.message)
        }
    }

    func v2Version(_ ctx: RequestContext) throws -> ModelVersionRecord {
        let name = ctx.parameter("name")
        if let v = ctx.parameters["version"] {
            guard let n = Int(v), n >= 1 else { throw APIError.invalid("version", "must be a positive integer") }
            return try models.resolve(name: name, version: n)
        }
        return try models.resolve(name: name)
    }

    func v2Metadata(_ ctx: RequestContext) -> HTTPResponse {
        v2 {
            let v = try v2Version(ctx)
            let model = try models.model(v).model
            let versions = try store.modelVersions(name: v.name).map { JSONValue.string(String($0.version)) }
            return JSONResponse.make(200, JSONValue.object([
                "name": .string(v.name),
                "versions": .array(versions),
                "platform": .string("neuromod"),
                "inputs": .array([.object(["name": .string("input"), "datatype": .string("FP32"),
                                           "shape": .array([.number(-1), .number(Double(model.inputWidth))])])]),
                "outputs": .array([.object(["name": .string("probabilities"), "datatype": .string("FP32"),
                                            "shape": .array([.number(-1), .number(Double(model.outputWidth))])])]),
            ]))
        }
    }

    func v2Ready(_ ctx: RequestContext) -> HTTPResponse {
        v2 {
            let v = try v2Version(ctx)
            _ = try models.model(v)
            return JSONResponse.make(200, JSONValue.object(["name": .string(v.name), "ready": .bool(true)]))
        }
    }

    func v2Infer(_ ctx: RequestContext) -> HTTPResponse {
        let start = DispatchTime.now().uptimeNanoseconds
        return v2 {
            let v = try v2Version(ctx)
            let model = try models.model(v).model
            let (header, binary) = try V2BinaryTensors.split(ctx.request)
            guard case .object(let req) = header else { throw APIError(400, "invalid_json", "the body must be an object") }
            guard case .array(let inputs)? = req["inputs"], inputs.count == 1, case .object(let tensor) = inputs[0] else {
                throw APIError(400, "invalid_argument", "inputs must hold exactly one tensor")
            }
            guard case .array(let shapeValues)? = tensor["shape"], shapeValues.count == 2,
                  let rows = shapeValues[0].intValue, let cols = shapeValues[1].intValue, rows >= 1 else {
                throw APIError(400, "invalid_argument", "inputs[0].shape must be [batch, \(model.inputWidth)]")
            }
            guard cols == model.inputWidth else {
                throw APIError(400, "invalid_argument", "inputs[0].shape[1] is \(cols); the model takes \(model.inputWidth)")
            }
            guard case .string(let datatype)? = tensor["datatype"], ["FP32", "FP64"].contains(datatype) else {
                throw APIError(400, "invalid_argument", "inputs[0].datatype must be FP32 or FP64")
            }
            var flat: [Float] = []
            flat.reserveCapacity(rows * cols)
            func collect(_ v: JSONValue) throws {
                switch v {
                case .number(let d): flat.append(Float(d))
                case .array(let a): for e in a { try collect(e) }
                default: throw APIError(400, "invalid_argument", "inputs[0].data must hold numbers")
                }
            }
            if case .object(let p)? = tensor["parameters"], let size = p["binary_data_size"] {
                guard tensor["data"] == nil, let declared = size.intValue, declared >= 0 else {
                    throw APIError(400, "invalid_argument", "inputs[0]: binary_data_size must be a byte count, and data must then be absent")
                }
                guard rows <= InferenceModel.maxBatch else {
                    throw APIError(400, "invalid_argument", "at most \(InferenceModel.maxBatch) inputs per request, got \(rows)")
                }
                flat = try V2BinaryTensors.floats(binary, declared: declared, datatype: datatype, count: rows * cols)
            } else {
                guard let data = tensor["data"] else { throw APIError(400, "invalid_argument", "inputs[0].data is required") }
                try collect(data)
            }
            guard flat.count == rows * cols else {
                throw APIError(400, "invalid_argument", "inputs[0].data has \(flat.count) values; shape \([rows, cols]) needs \(rows * cols)")
            }
            let batch = (0..<rows).map { Array(flat[($0 * cols)..<(($0 + 1) * cols)]) }
            // The task of a context-gated or task-incremental model: request parameters {"task": n}.
            var task: Int?
            if case .object(let parameters)? = req["parameters"], let t = parameters["task"] {
                guard let n = t.intValue, n >= 0 else { throw APIError(400, "invalid_argument", "parameters.task must be a task index") }
                task = n
            }
            let result: ModelServer.Prediction
            do { result = try models.predict(v, inputs: batch, task: task) } catch ServingError.badInput(_, let message) {
                throw APIError(400, "invalid_argument", message)
            }
            let binaryOutput = V2BinaryTensors.wantsBinaryOutput(req)
            var id: String?
            if case .string(let given)? = req["id"] { id = given }
            let answer = Self.v2InferHeader(id: id, name: v.name, version: v.version, rows: rows, classes: model.outputWidth,
                                            outputs: binaryOutput ? nil : result.outputs, predictionIDs: result.predictionIDs)
            var http: HTTPResponse
            if binaryOutput {
                http = V2BinaryTensors.response(header: answer, values: result.outputs.flatMap { $0 })
            } else {
                http = HTTPResponse(status: 200, headers: HTTPHeaders(), body: Data(answer))
                http.headers.set("Content-Type", "application/json")
            }
            http.headers.set(Self.batchRowsHeader, String(result.batchRows))
            recordPrediction(model: v.name, rows: rows, since: start)
            return http
        }
    }

    /// The answer of `infer` as JSON text, written directly (keys sorted, as ``JSONValue`` writes
    /// them): the output tensor's values inline, or — `outputs` nil — only its size, for values
    /// that follow as binary data.
    static func v2InferHeader(id: String?, name: String, version: Int, rows: Int, classes: Int,
                              outputs: [[Float]]?, predictionIDs: [String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + rows * (classes * 24 + 40))
        out.append(UInt8(ascii: "{"))
        if let id {
            out.append(contentsOf: #""id":"#.utf8)
            JSONValue.writeString(id, to: &out)
            out.append(UInt8(ascii: ","))
        }
        out.append(contentsOf: #""model_name":"#.utf8)
        JSONValue.writeString(name, to: &out)
        out.append(contentsOf: #","model_version":""#.utf8)
        out.append(contentsOf: String(version).utf8)
        out.append(contentsOf: #"","outputs":[{"#.utf8)
        if let outputs {
            out.append(contentsOf: #""data":["#.utf8)
            var first = true
            for row in outputs {
                for x in row {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    JSONValue.writeNumber(Double(x), to: &out)
                }
            }
            out.append(contentsOf: "],".utf8)
        }
        out.append(contentsOf: #""datatype":"FP32","name":"probabilities","#.utf8)
        if outputs == nil {
            out.append(contentsOf: #""parameters":{"binary_data_size":"#.utf8)
            out.append(contentsOf: String(rows * classes * 4).utf8)
            out.append(contentsOf: "},".utf8)
        }
        out.append(contentsOf: #""shape":["#.utf8)
        out.append(contentsOf: String(rows).utf8)
        out.append(UInt8(ascii: ","))
        out.append(contentsOf: String(classes).utf8)
        out.append(contentsOf: #"]}],"parameters":{"prediction_ids":["#.utf8)
        for (k, pid) in predictionIDs.enumerated() {
            if k > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeString(pid, to: &out)
        }
        out.append(contentsOf: "]}}".utf8)
        return out
    }
}
