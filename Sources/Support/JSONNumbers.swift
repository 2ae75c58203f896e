import Foundation

/// A small JSON reader for bodies whose shape is known, reading numbers straight into buffers
/// with no ``JSONValue`` tree: the prediction routes' inputs. It accepts exactly RFC 8259 JSON
/// of the expected shape and answers nil for anything else (callers then parse the body with
/// the general parser, which names what is wrong).
public struct JSONNumbers {
    private let bytes: UnsafeBufferPointer<UInt8>
    /// The read position.
    public private(set) var position = 0

    public init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Whether only whitespace is left.
    public var atEnd: Bool {
        mutating get { skipWhitespace(); return position == bytes.count }
    }

    public mutating func skipWhitespace() {
        while position < bytes.count,
              bytes[position] == 0x20 || bytes[position] == 0x0A || bytes[position] == 0x0D || bytes[position] == 0x09 { position += 1 }
    }

    /// Consumes `byte` (after whitespace) if it is next.
    public mutating func take(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// A string without escapes (an object key), or nil.
    public mutating func plainString() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = position
        while position < bytes.count, bytes[position] != UInt8(ascii: "\"") {
            if bytes[position] == UInt8(ascii: "\\") || bytes[position] < 0x20 { return nil }
            position += 1
        }
        guard position < bytes.count else { return nil }
        let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        position += 1
        return s
    }

    /// `null` if it is next.
    public mutating func null() -> Bool {
        skipWhitespace()
        guard position + 4 <= bytes.count, bytes[position] == 110, bytes[position + 1] == 117,
              bytes[position + 2] == 108, bytes[position + 3] == 108 else { return false }
        position += 4
        return true
    }

    /// A JSON number, or nil.
    public mutating func number() -> Double? {
        skipWhitespace()
        return JSONParser.number(in: bytes, at: &position)
    }

    /// `[n, n, …]` appended to `out` as Float; false if the next value is not an array of numbers.
    public mutating func floatArray(into out: inout [Float]) -> Bool {
        guard take(UInt8(ascii: "[")) else { return false }
        if take(UInt8(ascii: "]")) { return true }
        while true {
            guard let d = number() else { return false }
            out.append(Float(d))
            if take(UInt8(ascii: ",")) { continue }
            return take(UInt8(ascii: "]"))
        }
    }
}
