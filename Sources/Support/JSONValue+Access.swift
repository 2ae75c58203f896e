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
}
