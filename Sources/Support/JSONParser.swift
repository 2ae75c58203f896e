import Foundation

/// A strict RFC 8259 JSON parser producing ``JSONValue`` directly from bytes — much faster than
/// going through `JSONDecoder`, and bounded: nesting deeper than ``maxDepth`` is rejected.
struct JSONParser {
    static let maxDepth = 256

    private let bytes: UnsafeBufferPointer<UInt8>
    private var i = 0

    static func parse(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes { raw -> JSONValue? in
            var p = JSONParser(bytes: raw.bindMemory(to: UInt8.self))
            guard let v = p.value(depth: 0) else { return nil }
            p.skipWhitespace()
            return p.i == p.bytes.count ? v : nil
        }
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func literal(_ word: StaticString, _ v: JSONValue) -> JSONValue? {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { return nil }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { return nil }
        i += n
        return v
    }

    private mutating func value(depth: Int) -> JSONValue? {
        guard depth < Self.maxDepth else { return nil }
        skipWhitespace()
        guard i < bytes.count else { return nil }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var object: [String: JSONValue] = [:]
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(object) }
            while true {
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\""), let key = string() else { return nil }
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                guard let v = value(depth: depth + 1) else { return nil }
                if object[key] == nil { object[key] = v }   // first wins, as Foundation does
                skipWhitespace()
                guard i < bytes.count else { return nil }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(object) }
                return nil
            }
        case UInt8(ascii: "["):
            i += 1
            var array: [JSONValue] = []
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(array) }
            while true {
                guard let v = value(depth: depth + 1) else { return nil }
                array.append(v)
                skipWhitespace()
                guard i < bytes.count else { return nil }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(array) }
                return nil
            }
        case UInt8(ascii: "\""):
            return string().map { .string($0) }
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        default: return number()
        }
    }

    /// 10^0 … 10^22, each exactly representable as a Double.
    private static let powersOfTen: [Double] = (0...22).map { k in (0..<k).reduce(1.0) { r, _ in r * 10 } }

    private mutating func number() -> JSONValue? {
        Self.number(in: bytes, at: &i).map { .number($0) }
    }

    /// Reads a JSON number starting at `i` (moved past it); nil when the bytes there are not one.
    /// Shared with the parsers that read numbers straight into buffers (``JSONNumbers``).
    static func number(in bytes: UnsafeBufferPointer<UInt8>, at i: inout Int) -> Double? {
        let start = i
        func digits() -> Int {
            let s = i
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
            return i - s
        }
        let negative = i < bytes.count && bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < bytes.count else { return nil }
        let intStart = i
        if bytes[i] == 48 { i += 1 } else if digits() == 0 { return nil }
        let intEnd = i
        var fractionDigits = 0
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            fractionDigits = digits()
            guard fractionDigits > 0 else { return nil }
        }
        let hasExponent = i < bytes.count && bytes[i] | 0x20 == UInt8(ascii: "e")
        // Exact fast path (Clinger): at most 15 significant digits and no exponent — the digits
        // form an integer m < 2^53 and m / 10^k with k ≤ 22 is one correctly rounded division.
        let digitCount = (intEnd - intStart) + fractionDigits
        if !hasExponent && digitCount <= 15 {
            var m: UInt64 = 0
            for k in intStart..<intEnd { m = m &* 10 &+ UInt64(bytes[k] &- 48) }
            if fractionDigits > 0 {
                for k in (intEnd + 1)..<i { m = m &* 10 &+ UInt64(bytes[k] &- 48) }
            }
            let value = Double(m) / Self.powersOfTen[fractionDigits]
            return negative ? -value : value
        }
        if hasExponent {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return nil }
        }
        // strtod on a NUL-terminated copy of the lexeme (at most a few dozen bytes).
        let n = i - start
        guard n > 0, n < 512 else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: n + 1) { buf in
            for k in 0..<n { buf[k] = CChar(bitPattern: bytes[start + k]) }
            buf[n] = 0
            let d = strtod(buf.baseAddress!, nil)
            return d.isFinite ? d : nil
        }
    }

    /// A string starting at the opening quote.
    private mutating func string() -> String? {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\"), bytes[i] >= 0x20 { i += 1 }
        guard i < bytes.count else { return nil }
        if bytes[i] == UInt8(ascii: "\"") {
            defer { i += 1 }
            return String(validating: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        }
        var out = Array(bytes[start..<i])
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return String(validating: out, as: UTF8.self)
            }
            guard c >= 0x20 else { return nil }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < bytes.count else { return nil }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard var scalar = hex4() else { return nil }
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else { return nil }
                    i += 2
                    guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    return nil
                }
                guard let u = Unicode.Scalar(scalar) else { return nil }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: return nil
            }
        }
        return nil
    }

    private mutating func hex4() -> UInt32? {
        guard i + 4 <= bytes.count else { return nil }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: return nil
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}
