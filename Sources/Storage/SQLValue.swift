import Foundation

/// A value bound to or read from an SQLite statement.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
}

/// Types that can be bound as statement arguments.
public protocol SQLBindable: Sendable {
    var sqlValue: SQLValue { get }
}

extension Int: SQLBindable { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLBindable { public var sqlValue: SQLValue { .integer(self) } }
extension Double: SQLBindable { public var sqlValue: SQLValue { .real(self) } }
extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Bool: SQLBindable { public var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension Data: SQLBindable { public var sqlValue: SQLValue { .blob(self) } }
extension SQLValue: SQLBindable { public var sqlValue: SQLValue { self } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// One result row, read by column index.
public struct Row: Sendable {
    public let values: [SQLValue]

    public func int(_ i: Int) -> Int {
        switch values[i] {
        case .integer(let v): return Int(v)
        case .real(let v): return Int(v)
        default: return 0
        }
    }

    public func optionalInt(_ i: Int) -> Int? {
        if case .null = values[i] { return nil }
        return int(i)
    }

    public func double(_ i: Int) -> Double {
        switch values[i] {
        case .integer(let v): return Double(v)
        case .real(let v): return v
        default: return 0
        }
    }

    public func optionalDouble(_ i: Int) -> Double? {
        if case .null = values[i] { return nil }
        return double(i)
    }

    public func string(_ i: Int) -> String {
        switch values[i] {
        case .text(let s): return s
        case .integer(let v): return String(v)
        case .real(let v): return String(v)
        case .blob(let d): return String(decoding: d, as: UTF8.self)
        case .null: return ""
        }
    }

    public func optionalString(_ i: Int) -> String? {
        if case .null = values[i] { return nil }
        return string(i)
    }
}
