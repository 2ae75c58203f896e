import Foundation
import Support

/// Reads the arrays of a safetensors file for a data set: an 8-byte little-endian header length,
/// a JSON header `{name: {dtype, shape, data_offsets}, "__metadata__": {...}}`, then the tensors'
/// bytes, which must tile the rest of the file exactly (in bounds, contiguous, no overlap). Unlike
/// the checkpoint reader (`Safetensors`, F32 only) it accepts the integer, bool and float types a
/// data set holds, and reads them in place from the mapped file.
enum SafetensorsArrays {
    private static let types: [String: ElementType] = [
        "U8": .uint8, "I8": .int8, "BOOL": .bool, "U16": .uint16, "I16": .int16, "U32": .uint32,
        "I32": .int32, "U64": .uint64, "I64": .int64, "F32": .float32, "F64": .float64,
    ]

    /// Whether `file` starts like a safetensors file: a plausible header length, then `{`.
    static func looksLikeSafetensors(_ file: ByteRegion) -> Bool {
        guard file.count >= 9 else { return false }
        let length = file.bytes.uint64LE(at: 0)
        return length >= 2 && length <= UInt64(Safetensors.maxHeaderBytes) && file.bytes[8] == UInt8(ascii: "{")
    }

    /// The file's arrays, in name order.
    static func read(_ file: ByteRegion) throws -> [NDArray] {
        let b = file.bytes
        let headerLength = Int(b.uint64LE(at: 0))
        guard headerLength <= b.count - 8 else {
            throw DatasetError("the safetensors file is truncated: its \(headerLength)-byte header runs past the end of the file")
        }
        let bodyStart = 8 + headerLength, bodyCount = b.count - bodyStart
        guard case .object(let header)? = JSONValue.parse(Data(b[8..<bodyStart])) else {
            throw DatasetError("the safetensors header is not a JSON object")
        }
        var arrays: [(range: Range<Int>, array: NDArray)] = []
        for (name, value) in header.sorted(by: { $0.key < $1.key }) {
            if name == "__metadata__" {
                guard case .object(let metadata) = value, metadata.values.allSatisfy({ $0.stringValue != nil }) else {
                    throw DatasetError("the safetensors __metadata__ must be an object of strings")
                }
                continue
            }
            let (type, typeName, shape, range) = try entry(name: name, value, bodyCount: bodyCount)
            let array = try NDArray(name: name, type: type, typeName: typeName, shape: shape,
                                    data: file.window((bodyStart + range.lowerBound)..<(bodyStart + range.upperBound)))
            arrays.append((range, array))
        }
        try checkTiling(arrays.map { ($0.array.name, $0.range) }, bodyCount: bodyCount)
        return arrays.map(\.array)
    }

    /// One tensor's dtype, shape and byte range, checked against each other and the body's size.
    private static func entry(name: String, _ value: JSONValue, bodyCount: Int)
        throws -> (ElementType, String, [Int], Range<Int>) {
        guard case .object(let info) = value, Set(info.keys) == ["dtype", "shape", "data_offsets"] else {
            throw DatasetError("\(name): the safetensors entry must hold exactly dtype, shape and data_offsets")
        }
        guard let dtype = info["dtype"]?.stringValue else { throw DatasetError("\(name): the safetensors dtype is not a string") }
        guard let type = types[dtype] else {
            let hint = ["F16", "BF16"].contains(dtype) || dtype.hasPrefix("F8") ? " (half precision: convert to F32)" : ""
            throw DatasetError("\(name): dtype \(dtype)\(hint) is not supported; use one of U8 I8 BOOL U16 I16 U32 I32 U64 I64 F32 F64")
        }
        guard let dims = info["shape"]?.arrayValue, let shape = integers(dims) else {
            throw DatasetError("\(name): the safetensors shape is not a list of non-negative integers")
        }
        guard let offsets = info["data_offsets"]?.arrayValue, offsets.count == 2, let pair = integers(offsets) else {
            throw DatasetError("\(name): data_offsets is not a pair of non-negative integers")
        }
        guard pair[0] <= pair[1], pair[1] <= bodyCount else {
            throw DatasetError("\(name): data_offsets [\(pair[0]), \(pair[1])] lie outside the \(bodyCount) bytes of tensor data (truncated file?)")
        }
        let count = try NDArray.elementCount(of: shape, name: name)
        guard pair[1] - pair[0] == count * type.byteCount else {
            throw DatasetError("\(name): data_offsets [\(pair[0]), \(pair[1])] span \(pair[1] - pair[0]) bytes, but shape \(NDArray.describe(shape)) of \(dtype) needs \(count * type.byteCount)")
        }
        return (type, dtype, shape, pair[0]..<pair[1])
    }

    /// JSON numbers that are all integers in 0 ..< 2⁵³, or nil.
    private static func integers(_ values: [JSONValue]) -> [Int]? {
        var result: [Int] = []
        for v in values {
            guard let d = v.numberValue, d >= 0, d < 9_007_199_254_740_992, d == d.rounded() else { return nil }
            result.append(Int(d))
        }
        return result
    }

    /// The tensors' byte ranges must follow each other from 0 to the end of the file.
    private static func checkTiling(_ ranges: [(name: String, range: Range<Int>)], bodyCount: Int) throws {
        var end = 0, previous = ""
        for (name, range) in ranges.sorted(by: { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }) {
            if range.lowerBound < end {
                throw DatasetError("\(name): its data overlaps \(previous)'s (data_offsets must not overlap)")
            }
            if range.lowerBound > end {
                throw DatasetError("\(name): \(range.lowerBound - end) bytes lie unused before its data (data_offsets must be contiguous)")
            }
            end = range.upperBound
            previous = name
        }
        guard end == bodyCount else {
            throw DatasetError("the safetensors file holds \(bodyCount - end) bytes after its last tensor")
        }
    }
}
