import Foundation
import Support
import HTTP
import Engine

/// The binary tensor data extension of the open inference protocol (KServe, Triton): the request
/// body is a JSON header of `Inference-Header-Content-Length` bytes followed by raw tensor bytes
/// (little-endian, row-major); a tensor sent that way carries `parameters.binary_data_size`
/// instead of `data`. Outputs go back the same way when the request asks for it.
enum V2BinaryTensors {
    static let headerLengthField = "Inference-Header-Content-Length"

    /// The JSON header's bytes and the bytes after it (empty without the extension).
    static func split(_ request: HTTPRequest) throws -> (json: Data, binary: Data) {
        let body = request.body
        guard let lengthText = request.headers[headerLengthField] else { return (body, Data()) }
        let digits = lengthText.utf8.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
        guard let n = Int(String(decoding: digits, as: UTF8.self)), n >= 2, n <= body.count else {
            throw APIError(400, "invalid_argument", "\(headerLengthField) must be the byte length of the JSON header within the body")
        }
        return (body.prefix(n), body.dropFirst(n))
    }

    /// The JSON header parsed: an object, or the protocol's error (`extension`: whether the body
    /// had a binary part).
    static func parseHeader(_ json: Data, extension binary: Bool) throws -> JSONValue {
        guard let v = JSONValue.parse(json), case .object = v else {
            throw APIError(400, "invalid_json", binary ? "the JSON header of the request is not a JSON object" : "the request body must be a JSON object")
        }
        return v
    }

    /// `count` values of `datatype` (FP32 or FP64) from the start of `binary`, which must hold
    /// exactly `declared` bytes for this (single) input.
    static func floats(_ binary: Data, declared: Int, datatype: String, count: Int) throws -> [Float] {
        let width = datatype == "FP64" ? 8 : 4
        guard declared == count * width else {
            throw APIError(400, "invalid_argument", "inputs[0].parameters.binary_data_size is \(declared); shape and \(datatype) need \(count * width) bytes")
        }
        guard binary.count == declared else {
            throw APIError(400, "invalid_argument", "the body holds \(binary.count) bytes after the JSON header; binary_data_size says \(declared)")
        }
        return binary.withUnsafeBytes { raw -> [Float] in
            if width == 4 {
                return (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
            return (0..<count).map { Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))) }
        }
    }

    /// Whether the request asks for binary outputs (`parameters.binary_data_output`, or
    /// `outputs[i].parameters.binary_data`).
    static func wantsBinaryOutput(_ request: [String: JSONValue]) -> Bool {
        if case .object(let p)? = request["parameters"], p["binary_data_output"] == .bool(true) { return true }
        if case .array(let outputs)? = request["outputs"] {
            for case .object(let o) in outputs {
                if case .object(let p)? = o["parameters"], p["binary_data"] == .bool(true) { return true }
            }
        }
        return false
    }

    /// A response whose output tensor travels as raw FP32 bytes after the JSON header.
    static func response(header json: [UInt8], values: [Float]) -> HTTPResponse {
        var body = Data(json)
        body.reserveCapacity(json.count + values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
        var headers = HTTPHeaders()
        headers.set("Content-Type", "application/octet-stream")
        headers.set(headerLengthField, String(json.count))
        return HTTPResponse(status: 200, headers: headers, body: body)
    }
}
