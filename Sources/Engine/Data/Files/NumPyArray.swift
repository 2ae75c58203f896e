/// Reads one `.npy` array: the magic `\x93NUMPY`, a version (1.0 with a 2-byte header length,
/// 2.0 or 3.0 with a 4-byte one), the header dict, then the elements in C order. Only
/// little-endian numeric and bool dtypes are accepted; the data must be exactly as long as the
/// shape says.
enum NumPyArray {
    static let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]
    /// The longest header accepted (NumPy writes a few hundred bytes at most).
    static let maxHeaderBytes = 1 << 20

    /// The dtype strings accepted, without their byte-order character.
    private static let types: [String: ElementType] = [
        "u1": .uint8, "i1": .int8, "b1": .bool, "u2": .uint16, "i2": .int16, "u4": .uint32,
        "i4": .int32, "u8": .uint64, "i8": .int64, "f4": .float32, "f8": .float64,
    ]

    /// Parses the `.npy` bytes of the array `name`; the result's elements are a window onto `bytes`.
    static func read(_ bytes: ByteRegion, name: String) throws -> NDArray {
        let b = bytes.bytes
        guard bytes.starts(with: magic), b.count >= 10 else {
            throw DatasetError("\(name): not a .npy array (the \\x93NUMPY magic is missing)")
        }
        let major = b[6], minor = b[7]
        let headerStart: Int, headerLength: Int
        switch (major, minor) {
        case (1, 0):
            headerStart = 10
            headerLength = Int(b.uint16LE(at: 8))
        case (2, 0), (3, 0):
            guard b.count >= 12 else { throw DatasetError("\(name): the .npy header is truncated") }
            headerStart = 12
            headerLength = Int(b.uint32LE(at: 8))
        default:
            throw DatasetError("\(name): .npy format version \(major).\(minor) is not supported (1.0, 2.0 and 3.0 are)")
        }
        guard headerLength <= maxHeaderBytes else {
            throw DatasetError("\(name): the .npy header is \(headerLength) bytes, more than the \(maxHeaderBytes) allowed")
        }
        guard headerLength <= b.count - headerStart else { throw DatasetError("\(name): the .npy header is truncated") }
        let header = try NumPyHeader.parse(Array(b[headerStart..<(headerStart + headerLength)]), name: name)
        let type = try elementType(header.descr, name: name)
        if header.fortranOrder {
            throw DatasetError("\(name): fortran_order is True; save the array in C order (numpy.ascontiguousarray)")
        }
        let dataStart = headerStart + headerLength
        let count = try NDArray.elementCount(of: header.shape, name: name)
        let expected = count * type.byteCount
        guard b.count - dataStart == expected else {
            let problem = b.count - dataStart < expected ? "is truncated" : "has \(b.count - dataStart - expected) bytes too many"
            throw DatasetError("\(name): the .npy data \(problem): shape \(NDArray.describe(header.shape)) of \(header.descr) needs \(expected) bytes, the file holds \(b.count - dataStart)")
        }
        return try NDArray(name: name, type: type, typeName: header.descr, shape: header.shape,
                           data: bytes.window(dataStart..<b.count))
    }

    /// The element type of a dtype string such as `<f4` or `|u1`.
    static func elementType(_ descr: String, name: String) throws -> ElementType {
        let order = descr.first, code = String(descr.dropFirst())
        if order == ">" {
            throw DatasetError("\(name): dtype \(descr) is big-endian; only little-endian arrays are supported (save x.astype('<\(code)'))")
        }
        if code == "O" || descr == "O" {
            throw DatasetError("\(name): dtype \(descr) (Python objects) is not supported; save a numeric array")
        }
        guard let order, "<=|".contains(order), let type = types[code], order != "|" || type.byteCount == 1 else {
            let hint = code == "f2" ? " (float16: convert to float32)" : ""
            throw DatasetError("\(name): dtype \(descr)\(hint) is not supported; use one of |u1 |i1 |b1 <u2 <i2 <u4 <i4 <u8 <i8 <f4 <f8")
        }
        return type
    }
}
