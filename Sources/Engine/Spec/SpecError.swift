import Support
/// A run spec field that is missing, of the wrong type, or out of its allowed range.
public struct SpecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field's path, e.g. `model.layers[0]`.
    public var field: String
    public var message: String

    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

/// Reads the fields of one JSON object, tracking the path for errors and rejecting unknown keys.
struct FieldReader {
    let object: [String: JSONValue]
    let path: String
    private(set) var used: Set<String> = []

    init(_ value: JSONValue?, path: String) throws(SpecError) {
        guard case .object(let o) = value ?? .object([:]) else {
            throw SpecError(path, "must be an object, got \(value?.typeName ?? "nothing")")
        }
        object = o
        self.path = path
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    mutating func raw(_ key: String) -> JSONValue? {
        used.insert(key)
        if case .null? = object[key] { return nil }
        return object[key]
    }

    mutating func int(_ key: String, default def: Int? = nil, in range: ClosedRange<Int>) throws(SpecError) -> Int {
        guard let v = raw(key) else {
            if let def { return def }
            throw SpecError(field(key), "is required")
        }
        return try Self.integer(v, field(key), range)
    }

    mutating func optionalInt(_ key: String, in range: ClosedRange<Int>) throws(SpecError) -> Int? {
        guard let v = raw(key) else { return nil }
        return try Self.integer(v, field(key), range)
    }

    static func integer(_ v: JSONValue, _ name: String, _ range: ClosedRange<Int>) throws(SpecError) -> Int {
        guard case .number(let d) = v, d.isFinite, d == d.rounded(), abs(d) < 9.0e15 else {
            throw SpecError(name, "must be an integer, got \(v.typeName == "number" ? "a fraction" : v.typeName)")
        }
        let i = Int(d)
        guard range.contains(i) else {
            throw SpecError(name, "must be between \(range.lowerBound) and \(range.upperBound), got \(i)")
        }
        return i
    }

    mutating func double(_ key: String, default def: Double? = nil, in range: ClosedRange<Double>,
                         openLower: Bool = false) throws(SpecError) -> Double {
        guard let v = raw(key) else {
            if let def { return def }
            throw SpecError(field(key), "is required")
        }
        guard case .number(let d) = v, d.isFinite else {
            throw SpecError(field(key), "must be a number, got \(v.typeName)")
        }
        guard range.contains(d), !(openLower && d == range.lowerBound) else {
            let low = openLower ? "greater than \(range.lowerBound)" : "at least \(range.lowerBound)"
            throw SpecError(field(key), "must be \(low) and at most \(range.upperBound), got \(d)")
        }
        return d
    }

    mutating func string(_ key: String, default def: String? = nil, oneOf allowed: [String]? = nil,
                         maxLength: Int = 200) throws(SpecError) -> String {
        guard let v = raw(key) else {
            if let def { return def }
            throw SpecError(field(key), "is required")
        }
        guard case .string(let s) = v else { throw SpecError(field(key), "must be a string, got \(v.typeName)") }
        if let allowed, !allowed.contains(s) {
            throw SpecError(field(key), "must be one of \(allowed.joined(separator: ", ")), got \"\(s.prefix(50))\"")
        }
        guard s.count <= maxLength else { throw SpecError(field(key), "must be at most \(maxLength) characters") }
        return s
    }

    mutating func intArray(_ key: String, count: ClosedRange<Int>, each: ClosedRange<Int>) throws(SpecError) -> [Int] {
        guard let v = raw(key) else { throw SpecError(field(key), "is required") }
        guard case .array(let a) = v else { throw SpecError(field(key), "must be an array, got \(v.typeName)") }
        guard count.contains(a.count) else {
            throw SpecError(field(key), "must have between \(count.lowerBound) and \(count.upperBound) entries, got \(a.count)")
        }
        var out: [Int] = []
        for (i, e) in a.enumerated() { out.append(try Self.integer(e, "\(field(key))[\(i)]", each)) }
        return out
    }

    mutating func object(_ key: String) -> JSONValue? { raw(key) }

    /// Fails on the first key that was never read (a typo or an unsupported option).
    func rejectUnknown() throws(SpecError) {
        if let extra = object.keys.sorted().first(where: { !used.contains($0) }) {
            throw SpecError(field(extra), "is not a known field")
        }
    }
}
