import Foundation
import CNumberParsing

/// A small JSON reader for bodies whose shape is known, reading numbers straight into buffers
/// with no ``JSONValue`` tree: the prediction routes' inputs. It accepts exactly RFC 8259 JSON
/// of the expected shape and answers nil for anything else (callers then parse the body with
/// the general parser, which names what is wrong).
public struct JSONNumbers {
    private let bytes: UnsafeBufferPointer<UInt8>
    /// The read position (set it back to read a value again another way).
    public var position = 0

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

    /// `[n, n, …]` as a row of Float, each number read as ``JSONParser`` reads it (the loop is C's:
    /// `nm_json_float_array`); nil if the next value is not an array of numbers. `expectedCount`
    /// sizes the row's first allocation (a longer row is read again into a large enough one).
    public mutating func floatRow(expectedCount: Int) -> [Float]? {
        guard let base = bytes.baseAddress else { return nil }
        skipWhitespace()
        let bound = max(1, (bytes.count - position + 1) / 2)   // every number takes a byte and a separator
        let first = min(bound, max(expectedCount, 16))
        for capacity in first == bound ? [bound] : [first, bound] {
            var next = position
            var status = -1
            let row = [Float](unsafeUninitializedCapacity: capacity) { buffer, initialized in
                status = nm_json_float_array(base, bytes.count, &next, buffer.baseAddress!, capacity)
                initialized = max(status, 0)
            }
            if status >= 0 {
                position = next
                return row
            }
            if status == -1 { return nil }
        }
        return nil
    }
}
