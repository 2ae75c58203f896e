import Foundation
import Support

/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
/// (`{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {string: string}}`), then the raw
/// little-endian tensor bytes. Only F32 tensors are written; F32 is read.
public enum Safetensors {
    public struct Tensor: Sendable, Equatable {
        public var shape: [Int]
        public var values: [Float]
        public init(shape: [Int], values: [Float]) {
            self.shape = shape
            self.values = values
        }
    }

    public struct File: Sendable, Equatable {
        public var tensors: [String: Tensor]
        public var metadata: [String: String]
        public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:]) {
            self.tensors = tensors
            self.metadata = metadata
        }
    }

    /// Malformed or unsupported safetensors bytes.
    public struct FormatError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Largest header accepted when reading (the reference implementation uses 100 MB).
    public static let maxHeaderBytes = 100_000_000

    /// Serialises tensors in name order; the header is space-padded to a multiple of 8 bytes.
    public static func encode(_ file: File) -> Data {
        var header: [String: JSONValue] = [:]
        if !file.metadata.isEmpty {
            header["__metadata__"] = .object(file.metadata.mapValues { .string($0) })
        }
        var offset = 0
        let names = file.tensors.keys.sorted()
        for name in names {
            let t = file.tensors[name]!
            let bytes = t.values.count * 4
            header[name] = .object([
                "dtype": .string("F32"),
                "shape": .array(t.shape.map { .number(Double($0)) }),
                "data_offsets": .array([.number(Double(offset)), .number(Double(offset + bytes))]),
            ])
            offset += bytes
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var json = (try? encoder.encode(JSONValue.object(header))) ?? Data("{}".utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        out.reserveCapacity(8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names {
            file.tensors[name]!.values.withUnsafeBufferPointer { buf in
                // Float's in-memory layout is little-endian on every platform we build for.
                out.append(UnsafeBufferPointer(start: UnsafeRawPointer(buf.baseAddress!).assumingMemoryBound(to: UInt8.self),
                                               count: buf.count * 4))
            }
        }
        return out
    }

    /// Parses and validates safetensors bytes (bounds, dtypes, sizes, no overlaps).
    public static func decode(_ data: Data) throws -> File {
        func fail(_ s: String) -> FormatError { FormatError(description: "invalid safetensors: \(s)") }
        guard data.count >= 8 else { throw fail("shorter than 8 bytes") }
        let n = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard n <= UInt64(maxHeaderBytes), 8 + Int(n) <= data.count else { throw fail("header length \(n) out of bounds") }
        let headerData = data.subdata(in: data.startIndex + 8 ..< data.startIndex + 8 + Int(n))
        guard case .object(let header)? = JSONValue.parse(headerData) else { throw fail("header is not a JSON object") }
        let body = data.subdata(in: data.startIndex + 8 + Int(n) ..< data.endIndex)
        var file = File()
        var ranges: [(Int, Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard case .object(let meta) = value else { throw fail("__metadata__ is not an object") }
                for (k, v) in meta {
                    guard case .string(let s) = v else { throw fail("metadata \(k) is not a string") }
                    file.metadata[k] = s
                }
                continue
            }
            guard case .object(let info) = value, case .string(let dtype)? = info["dtype"],
                  case .array(let shapeValues)? = info["shape"], case .array(let offsets)? = info["data_offsets"],
                  offsets.count == 2, case .number(let b)? = offsets.first, case .number(let e)? = offsets.last else {
                throw fail("tensor \(name) has a malformed entry")
            }
            guard dtype == "F32" else { throw fail("tensor \(name) has dtype \(dtype); only F32 is supported") }
            var shape: [Int] = []
            for s in shapeValues {
                guard case .number(let d) = s, d >= 0, d == d.rounded(), d < 1e12 else { throw fail("tensor \(name) has a bad shape") }
                shape.append(Int(d))
            }
            // Bounds first, so no conversion or product can trap on a hostile header.
            guard b >= 0, e >= b, e <= Double(body.count), b == b.rounded(), e == e.rounded(),
                  shape.reduce(1.0, { $0 * Double($1) }) * 4 <= Double(body.count) else {
                throw fail("tensor \(name) offsets do not match its shape or the file size")
            }
            let begin = Int(b), end = Int(e)
            let elements = shape.reduce(1, *)
            guard end - begin == elements * 4 else {
                throw fail("tensor \(name) offsets do not match its shape or the file size")
            }
            ranges.append((begin, end))
            var values = [Float](repeating: 0, count: elements)
            values.withUnsafeMutableBytes { dst in
                body.copyBytes(to: dst.bindMemory(to: UInt8.self), from: body.startIndex + begin ..< body.startIndex + end)
            }
            file.tensors[name] = Tensor(shape: shape, values: values)
        }
        ranges.sort { $0.0 < $1.0 }
        for i in 1..<max(ranges.count, 1) where ranges[i].0 < ranges[i - 1].1 {
            throw fail("tensors overlap")
        }
        return file
    }
}
