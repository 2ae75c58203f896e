#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The element types an array of a data-set file may hold, all stored little-endian.
enum ElementType: Sendable {
    case uint8, int8, bool, uint16, int16, uint32, int32, uint64, int64, float32, float64

    /// Bytes per element.
    var byteCount: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        }
    }

    var isFloat: Bool { self == .float32 || self == .float64 }
}

/// One named n-dimensional array read from a data-set file: its element type (and that type's
/// name as the file writes it, for messages), its shape, and its elements in C order as
/// little-endian bytes — a window onto the mapped file when the file stores them uncompressed.
struct NDArray {
    let name: String
    let type: ElementType
    /// The type as the file names it: `<f4`, `F32`, `u8 (IDX)`.
    let typeName: String
    let shape: [Int]
    let data: ByteRegion
    /// The number of elements, the product of `shape`.
    let count: Int

    /// Checks the shape against the limits and the data's length against the shape.
    init(name: String, type: ElementType, typeName: String, shape: [Int], data: ByteRegion) throws {
        self.count = try Self.elementCount(of: shape, name: name)
        guard data.count == count * type.byteCount else {
            throw DatasetError("\(name): holds \(data.count) bytes of data, but shape \(Self.describe(shape)) of \(typeName) needs \(count * type.byteCount)")
        }
        self.name = name
        self.type = type
        self.typeName = typeName
        self.shape = shape
        self.data = data
    }

    /// The product of `shape`, refusing a rank above `DatasetFile.maxRank` and more than
    /// `DatasetFile.maxValuesPerArray` elements (checked without overflow).
    static func elementCount(of shape: [Int], name: String) throws -> Int {
        guard shape.count <= DatasetFile.maxRank else {
            throw DatasetError("\(name): rank \(shape.count) (shape \(describe(shape))) is more than the \(DatasetFile.maxRank) allowed")
        }
        var product = 1
        for d in shape {
            guard d >= 0 else { throw DatasetError("\(name): shape \(describe(shape)) has a negative dimension") }
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            guard !overflow, p <= DatasetFile.maxValuesPerArray else {
                throw DatasetError("\(name): shape \(describe(shape)) holds more than \(DatasetFile.maxValuesPerArray) values, the most one array may hold")
            }
            product = p
        }
        return product
    }

    /// A shape written as Python writes tuples: `(60000, 784)`, `(5,)`, `()`.
    static func describe(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    var shapeDescription: String { Self.describe(shape) }

    // MARK: - Elements

    /// Element `i` of an integer or bool array (an unsigned 64-bit value above `Int64.max` saturates).
    func integer(at i: Int) -> Int64 {
        let b = data.bytes
        switch type {
        case .uint8, .bool: return Int64(b[i])
        case .int8: return Int64(Int8(bitPattern: b[i]))
        case .uint16: return Int64(b.uint16LE(at: 2 * i))
        case .int16: return Int64(Int16(bitPattern: b.uint16LE(at: 2 * i)))
        case .uint32: return Int64(b.uint32LE(at: 4 * i))
        case .int32: return Int64(Int32(bitPattern: b.uint32LE(at: 4 * i)))
        case .uint64: return Int64(clamping: b.uint64LE(at: 8 * i))
        case .int64: return Int64(bitPattern: b.uint64LE(at: 8 * i))
        case .float32, .float64: preconditionFailure("integer(at:) on a float array")
        }
    }

    /// Element `i` written out exactly, for messages.
    func describeElement(at i: Int) -> String {
        switch type {
        case .uint64: return String(data.bytes.uint64LE(at: 8 * i))
        case .float32: return String(describing: Float(bitPattern: data.bytes.uint32LE(at: 4 * i)))
        case .float64: return String(describing: Double(bitPattern: data.bytes.uint64LE(at: 8 * i)))
        default: return String(integer(at: i))
        }
    }

    /// Where flat index `i` lies, for messages: `index 17 (sample 0)`.
    func describePosition(_ i: Int) -> String {
        guard let n = shape.first, n > 0, shape.count > 1 else { return "index \(i)" }
        return "index \(i) (sample \(i / (count / n)))"
    }

    /// Refuses a bool array holding a byte other than 0 or 1.
    func checkBooleans() throws {
        guard type == .bool else { return }
        let b = data.bytes
        for i in 0..<count where b[i] > 1 {
            throw DatasetError("\(name): bool value \(b[i]) at \(describePosition(i)) is neither 0 nor 1")
        }
    }

    // MARK: - Conversion

    /// Writes every element as a Float32 into `dst` (`count` floats): unsigned bytes as
    /// `Float(byte) / 255` (as the built-in Fashion-MNIST loader does), bools as 0/1, other
    /// integers as their value, floats as they are. A NaN, an infinity or a float64 beyond the
    /// Float32 range is refused, naming where it is.
    func convertToFloats(into dst: UnsafeMutablePointer<Float>) throws {
        let raw = data.bytes
        guard count > 0, let base = raw.baseAddress else { return }
        switch type {
        case .uint8:
            let p = base.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { dst[i] = Float(p[i]) / 255 }
        case .bool:
            try checkBooleans()
            let p = base.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { dst[i] = Float(p[i]) }
        case .int8: convertIntegers(Int8.self, into: dst)
        case .uint16: convertIntegers(UInt16.self, into: dst)
        case .int16: convertIntegers(Int16.self, into: dst)
        case .uint32: convertIntegers(UInt32.self, into: dst)
        case .int32: convertIntegers(Int32.self, into: dst)
        case .uint64: convertIntegers(UInt64.self, into: dst)
        case .int64: convertIntegers(Int64.self, into: dst)
        case .float32:
            // Float32's in-memory layout is little-endian on every platform we build for.
            memcpy(dst, base, count * 4)
            for i in 0..<count where !dst[i].isFinite {
                throw DatasetError("\(name): value \(dst[i]) at \(describePosition(i)) is not finite")
            }
        case .float64:
            for i in 0..<count {
                let d = Double(bitPattern: raw.uint64LE(at: 8 * i))
                guard d.isFinite else { throw DatasetError("\(name): value \(d) at \(describePosition(i)) is not finite") }
                let f = Float(d)
                guard f.isFinite else {
                    throw DatasetError("\(name): value \(d) at \(describePosition(i)) is beyond the Float32 range")
                }
                dst[i] = f
            }
        }
    }

    private func convertIntegers<T: FixedWidthInteger>(_: T.Type, into dst: UnsafeMutablePointer<Float>) {
        let raw = data.bytes, size = MemoryLayout<T>.size
        for i in 0..<count {
            dst[i] = Float(T(littleEndian: raw.loadUnaligned(fromByteOffset: i * size, as: T.self)))
        }
    }
}
