import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Just enough XML for S3's answers, which are flat, attribute-free documents of known shape:
/// the text of `<Tag>…</Tag>` elements, entity escaping both ways, and S3's timestamps.
/// Not a general XML parser (no CDATA, no comments, no namespaces prefixes on our tags).
enum XMLText {
    /// The bodies of every `<tag>…</tag>` element in `text`, in order (raw: not unescaped).
    static func elements(_ tag: String, in text: Substring) -> [Substring] {
        let open = "<\(tag)>", close = "</\(tag)>"
        var out: [Substring] = []
        var cursor = text.startIndex
        while let a = text.range(of: open, range: cursor..<text.endIndex),
              let b = text.range(of: close, range: a.upperBound..<text.endIndex) {
            out.append(text[a.upperBound..<b.lowerBound])
            cursor = b.upperBound
        }
        return out
    }

    /// The unescaped text of the first `<tag>…</tag>` in `text`, or nil.
    static func value(_ tag: String, in text: some StringProtocol) -> String? {
        elements(tag, in: Substring(text)).first.map { unescape($0) }
    }

    /// `&amp;` `&lt;` `&gt;` `&quot;` `&apos;` and numeric references (`&#13;`, `&#x0D;`) back to text.
    static func unescape(_ s: Substring) -> String {
        guard s.contains("&") else { return String(s) }
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "&", let semi = s[i...].firstIndex(of: ";"), s.distance(from: i, to: semi) <= 10 {
                let name = s[s.index(after: i)..<semi]
                var replacement: String?
                switch name {
                case "amp": replacement = "&"
                case "lt": replacement = "<"
                case "gt": replacement = ">"
                case "quot": replacement = "\""
                case "apos": replacement = "'"
                default:
                    if name.hasPrefix("#x") || name.hasPrefix("#X"), let v = UInt32(name.dropFirst(2), radix: 16), let u = Unicode.Scalar(v) {
                        replacement = String(Character(u))
                    } else if name.hasPrefix("#"), let v = UInt32(name.dropFirst()), let u = Unicode.Scalar(v) {
                        replacement = String(Character(u))
                    }
                }
                if let replacement {
                    out += replacement
                    i = s.index(after: semi)
                    continue
                }
            }
            out.append(s[i])
            i = s.index(after: i)
        }
        return out
    }

    /// Text escaped for an element's content or an attribute value.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }

    /// `2009-10-12T17:50:30.000Z` (the fraction optional) as a date; nil when malformed.
    static func date(_ s: String) -> Date? {
        let bytes = Array(s.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var v = 0
            for b in bytes[from..<from + count] {
                guard b >= 48 && b <= 57 else { return nil }
                v = v * 10 + Int(b - 48)
            }
            return v
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2) else { return nil }
        var fraction = 0.0
        if bytes[19] == UInt8(ascii: ".") {
            let digits = bytes[20..<(bytes.count - 1)]
            guard !digits.isEmpty, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            fraction = Double("0." + String(decoding: digits, as: UTF8.self)) ?? 0
        } else if bytes.count != 20 {
            return nil
        }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month - 1)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        return Date(timeIntervalSince1970: Double(timegm(&t)) + fraction)
    }
}
