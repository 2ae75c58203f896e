import Foundation
import Support
import Engine

/// What an `infer` request of the open inference protocol asks for: one input tensor — inline
/// values, or binary data of `binaryDataSize` bytes after the JSON header — an optional id, a task
/// and whether the outputs go back as binary data.
///
/// ``read(_:inputWidth:binaryExtension:)`` uses ``fast(_:)`` when the request has the common shape
/// (what KServe and Triton clients send for one tensor), straight into floats; otherwise
/// ``parse(_:inputWidth:)`` from the parsed JSON, whose errors name the field at fault. Both read
/// the same request alike.
struct V2InferRequest {
    var id: String?
    var rows: Int
    var cols: Int
    var datatype: String
    /// Inline values in row-major order; nil when the values come as binary data.
    var values: [Float]?
    var binaryDataSize: Int?
    var task: Int?
    var binaryOutput: Bool

    /// The request in `json` (the body, or the JSON header before binary data): the fast reading
    /// when the request has the common shape and the model's input width, else the general one.
    static func read(_ json: Data, inputWidth: Int, binaryExtension: Bool) throws -> V2InferRequest {
        if let fast = json.withUnsafeBytes({ fast($0.bindMemory(to: UInt8.self)) }), fast.cols == inputWidth { return fast }
        return try parse(V2BinaryTensors.parseHeader(json, extension: binaryExtension), inputWidth: inputWidth)
    }

    /// `{"id"?: "…", "inputs": [{"name": "…", "shape": [r, c], "datatype": "FP32" | "FP64",
    /// "data": [n, …] | [[n, …], …]} or with "parameters": {"binary_data_size": n} instead of data]}`,
    /// keys in any order, each once; nil for anything else (then ``parse(_:inputWidth:)`` answers).
    static func fast(_ json: UnsafeBufferPointer<UInt8>) -> V2InferRequest? {
        var r = JSONNumbers(json)
        var id: String??, tensor: V2InferRequest?
        guard r.take(UInt8(ascii: "{")) else { return nil }
        repeat {
            guard let key = r.plainString(), r.take(UInt8(ascii: ":")) else { return nil }
            switch key {
            case "id" where id == nil:
                guard let text = r.plainString() else { return nil }
                id = .some(text)
            case "inputs" where tensor == nil:
                guard r.take(UInt8(ascii: "[")), let t = readTensor(&r), r.take(UInt8(ascii: "]")) else { return nil }
                tensor = t
            default:
                return nil
            }
        } while r.take(UInt8(ascii: ","))
        guard r.take(UInt8(ascii: "}")), r.atEnd, var request = tensor else { return nil }
        request.id = id ?? nil
        return request
    }

    /// One tensor object of the common shape.
    private static func readTensor(_ r: inout JSONNumbers) -> V2InferRequest? {
        guard r.take(UInt8(ascii: "{")) else { return nil }
        var name: String?, shape: [Int]?, datatype: String?, values: [Float]?, size: Int?
        repeat {
            guard let key = r.plainString(), r.take(UInt8(ascii: ":")) else { return nil }
            switch key {
            case "name" where name == nil:
                name = r.plainString()
                if name == nil { return nil }
            case "shape" where shape == nil:
                // Two of the general reading's integers: whole numbers below 10^9 in magnitude.
                guard r.take(UInt8(ascii: "[")), let a = r.number(), r.take(UInt8(ascii: ",")), let b = r.number(),
                      r.take(UInt8(ascii: "]")), [a, b].allSatisfy({ $0 == $0.rounded() && abs($0) < 1e9 }) else { return nil }
                shape = [Int(a), Int(b)]
            case "datatype" where datatype == nil:
                guard let d = r.plainString(), d == "FP32" || d == "FP64" else { return nil }
                datatype = d
            case "data" where values == nil:
                values = readValues(&r)
                if values == nil { return nil }
            case "parameters" where size == nil:
                guard r.take(UInt8(ascii: "{")), r.plainString() == "binary_data_size", r.take(UInt8(ascii: ":")),
                      let d = r.number(), d == d.rounded(), d >= 0, d < 1e9, r.take(UInt8(ascii: "}")) else { return nil }
                size = Int(d)
            default:
                return nil
            }
        } while r.take(UInt8(ascii: ","))
        guard r.take(UInt8(ascii: "}")), name != nil, let shape, shape[0] >= 1, let datatype,
              (values == nil) != (size == nil) else { return nil }
        return V2InferRequest(id: nil, rows: shape[0], cols: shape[1], datatype: datatype, values: values,
                              binaryDataSize: size, task: nil, binaryOutput: false)
    }

    /// `[n, …]`, or one level of rows `[[n, …], …]`, flattened.
    private static func readValues(_ r: inout JSONNumbers) -> [Float]? {
        let mark = r.position
        if let flat = r.floatRow(expectedCount: 1024) { return flat }
        r.position = mark
        guard r.take(UInt8(ascii: "[")) else { return nil }
        var flat: [Float] = []
        if r.take(UInt8(ascii: "]")) { return flat }
        repeat {
            guard let row = r.floatRow(expectedCount: 1024) else { return nil }
            flat += row
        } while r.take(UInt8(ascii: ","))
        return r.take(UInt8(ascii: "]")) ? flat : nil
    }

    /// The general reading of a parsed request, with the protocol's errors in the order they are
    /// checked (the tensor count, its shape and `inputWidth`, its datatype, its values).
    static func parse(_ header: JSONValue, inputWidth: Int) throws -> V2InferRequest {
        guard case .object(let req) = header else { throw APIError(400, "invalid_json", "the body must be an object") }
        guard case .array(let inputs)? = req["inputs"], inputs.count == 1, case .object(let tensor) = inputs[0] else {
            throw APIError(400, "invalid_argument", "inputs must hold exactly one tensor")
        }
        guard case .array(let shapeValues)? = tensor["shape"], shapeValues.count == 2,
              let rows = shapeValues[0].intValue, let cols = shapeValues[1].intValue, rows >= 1 else {
            throw APIError(400, "invalid_argument", "inputs[0].shape must be [batch, \(inputWidth)]")
        }
        guard cols == inputWidth else {
            throw APIError(400, "invalid_argument", "inputs[0].shape[1] is \(cols); the model takes \(inputWidth)")
        }
        guard case .string(let datatype)? = tensor["datatype"], ["FP32", "FP64"].contains(datatype) else {
            throw APIError(400, "invalid_argument", "inputs[0].datatype must be FP32 or FP64")
        }
        var request = V2InferRequest(id: nil, rows: rows, cols: cols, datatype: datatype, values: nil, binaryDataSize: nil,
                                     task: nil, binaryOutput: V2BinaryTensors.wantsBinaryOutput(req))
        if case .string(let id)? = req["id"] { request.id = id }
        if case .object(let p)? = tensor["parameters"], let size = p["binary_data_size"] {
            guard tensor["data"] == nil, let declared = size.intValue, declared >= 0 else {
                throw APIError(400, "invalid_argument", "inputs[0]: binary_data_size must be a byte count, and data must then be absent")
            }
            request.binaryDataSize = declared
        } else {
            guard let data = tensor["data"] else { throw APIError(400, "invalid_argument", "inputs[0].data is required") }
            var flat: [Float] = []
            flat.reserveCapacity(rows * cols)
            func collect(_ v: JSONValue) throws {
                switch v {
                case .number(let d): flat.append(Float(d))
                case .array(let a): for e in a { try collect(e) }
                default: throw APIError(400, "invalid_argument", "inputs[0].data must hold numbers")
                }
            }
            try collect(data)
            request.values = flat
        }
        // The task of a context-gated or task-incremental model: request parameters {"task": n}.
        if case .object(let parameters)? = req["parameters"], let t = parameters["task"] {
            guard let n = t.intValue, n >= 0 else { throw APIError(400, "invalid_argument", "parameters.task must be a task index") }
            request.task = n
        }
        return request
    }
}
