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
            let (json, binary) = try V2BinaryTensors.split(ctx.request)
            let request = try V2InferRequest.read(json, inputWidth: model.inputWidth,
                                                  binaryExtension: ctx.request.headers[V2BinaryTensors.headerLengthField] != nil)
            let (rows, cols) = (request.rows, request.cols)
            let flat: [Float]
            if let declared = request.binaryDataSize {
                guard rows <= InferenceModel.maxBatch else {
                    throw APIError(400, "invalid_argument", "at most \(InferenceModel.maxBatch) inputs per request, got \(rows)")
                }
                flat = try V2BinaryTensors.floats(binary, declared: declared, datatype: request.datatype, count: rows * cols)
            } else {
                flat = request.values ?? []
            }
            guard flat.count == rows * cols else {
                throw APIError(400, "invalid_argument", "inputs[0].data has \(flat.count) values; shape \([rows, cols]) needs \(rows * cols)")
            }
            let batch = rows == 1 ? [flat] : (0..<rows).map { Array(flat[($0 * cols)..<(($0 + 1) * cols)]) }
            let task = request.task
            let result: ModelServer.Prediction
            do { result = try models.predict(v, inputs: batch, task: task) } catch ServingError.badInput(_, let message) {
                throw APIError(400, "invalid_argument", message)
            }
            let binaryOutput = request.binaryOutput
            let answer = Self.v2InferHeader(id: request.id, name: v.name, version: v.version, rows: rows, classes: model.outputWidth,
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
