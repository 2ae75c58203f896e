import Foundation

/// Any JSON value, decoded losslessly enough to validate a spec field by field.
public enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
    /// JSON text that is already serialized (a stored spec or summary), written out verbatim so
    /// that a response need not parse and re-encode it. Build it with ``stored(_:)``.
    case raw(String)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d):
            if d == d.rounded(), abs(d) < 9.0e15 { try c.encode(Int64(d)) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        case .raw(let text): try c.encode(JSONValue.parse(Data(text.utf8)) ?? .null)
        }
    }

    /// Stored JSON text written out verbatim: `.raw(text)` when it is an object or array as our
    /// own writers produce, `.null` for anything else (empty, truncated).
    public static func stored(_ text: String) -> JSONValue {
        guard let first = text.utf8.first, let last = text.utf8.last,
              (first == UInt8(ascii: "{") && last == UInt8(ascii: "}")) || (first == UInt8(ascii: "[") && last == UInt8(ascii: "]")) else {
            return .null
        }
        return .raw(text)
    }

    /// Parses JSON text (RFC 8259, nesting at most 256 deep); nil when it is not valid JSON.
    public static func parse(_ data: Data) -> JSONValue? {
        JSONParser.parse(data)
    }

    /// A short name of the value's type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        case .raw: return "JSON"
        }
    }
}
