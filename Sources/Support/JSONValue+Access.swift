import Foundation

extension JSONValue {
    /// The compact serialization as a string.
    public var serializedString: String { String(decoding: serialized(), as: UTF8.self) }
    /// The number, or nil for any other type.
    public var numberValue: Double? { if case .number(let d) = self { return d } else { return nil } }
    /// The string, or nil for any other type.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The elements, or nil for any other type.
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    /// The members, or nil for any other type.
    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }
    /// An integral number of magnitude below 10⁹, or nil.
    public var intValue: Int? {
        if case .number(let d) = self, d == d.rounded(), abs(d) < 1e9 { return Int(d) }
        return nil
    }
    /// An array of numbers.
    public static func numbers(_ values: [Double]) -> JSONValue { .array(values.map { .number($0) }) }

    /// An RFC 3339 UTC timestamp with milliseconds, e.g. `2026-11-30T01:21:44.755Z` (null for nil).
    public static func timestamp(_ t: Double?) -> JSONValue {
        guard let t else { return .null }
        var seconds = time_t(t.rounded(.down))
        var millis = Int(((t - Double(seconds)) * 1000).rounded(.down))
        if millis >= 1000 { seconds += 1; millis -= 1000 }
        var tm = tm()
        gmtime_r(&seconds, &tm)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return .string("\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T"
            + "\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(millis), 3))Z")
    }
}
