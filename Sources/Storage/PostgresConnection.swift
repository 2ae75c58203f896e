import Foundation
import CPostgres

/// One connection to PostgreSQL through libpq, shaped like ``Database``: `execute(sql, args…)`
/// with positional `?` placeholders (rewritten to `$1…`), rows of ``SQLValue``s, transactions.
/// Parameters travel as text (bytes as binary) and PostgreSQL infers their types; results come
/// back as text and are typed by column: integers, floating point and numeric, booleans (0/1),
/// bytea, and text for everything else.
public final class PostgresConnection: SQLConnection {
    private var connection: OpaquePointer?
    public let url: String
    public var dialect: SQLDialect { .postgres }
    /// Rows changed by the last INSERT/UPDATE/DELETE.
    public private(set) var changes = 0

    /// Connects to `url` (`postgres://user:password@host:port/database?…`, or libpq's
    /// `key=value` form).
    public init(url: String) throws {
        self.url = url
        connection = PQconnectdb(url)
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let message = connection.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(connection)
            self.connection = nil
            throw PostgresError(sqlState: "08001", message: "cannot connect: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    deinit { PQfinish(connection) }

    /// Whether the connection is up (false after the server went away).
    public var isConnected: Bool { connection.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Re-establishes a lost connection.
    public func reset() throws {
        guard let connection else { throw PostgresError(sqlState: "08003", message: "no connection") }
        PQreset(connection)
        guard PQstatus(connection) == CONNECTION_OK else {
            throw PostgresError(sqlState: "08001", message: "cannot reconnect: \(String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// The database server's clock (transaction-independent), shared by every node.
    public func now() throws -> Double {
        try execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8").first?.double(0) ?? Date().timeIntervalSince1970
    }

    /// The socket libpq talks on (for waiting on notifications), or -1.
    var socket: Int32 { connection.map { PQsocket($0) } ?? -1 }

    /// Reads what arrived on the socket and returns the channels notified since the last call.
    /// Throws when the connection is lost.
    func takeNotifications() throws -> [String] {
        guard let connection, PQconsumeInput(connection) == 1 else {
            throw PostgresError(sqlState: "08006", message: "connection lost while listening")
        }
        var channels: [String] = []
        while let n = PQnotifies(connection) {
            channels.append(String(cString: n.pointee.relname))
            PQfreemem(n)
        }
        return channels
    }

    @discardableResult
    public func execute(_ sql: String, arguments: [any SQLBindable]) throws -> [Row] {
        guard let connection else { throw PostgresError(sqlState: "08003", message: "no connection") }
        let statement = Self.numberPlaceholders(sql)
        let values = arguments.map(\.sqlValue)
        // Text goes as C strings, and PostgreSQL's text cannot hold U+0000: refused, not cut short.
        for case .text(let text) in values where text.utf8.contains(0) {
            throw PostgresError(sqlState: "22021", message: "text may not contain the NUL character (U+0000)")
        }
        // Text parameters as C strings, bytes in binary; NULL as a null pointer.
        var buffers: [[UInt8]?] = values.map {
            switch $0 {
            case .null: return nil
            case .integer(let v): return Array(String(v).utf8) + [0]
            case .real(let v): return Array((v.isFinite ? String(v) : (v.isNaN ? "NaN" : (v > 0 ? "Infinity" : "-Infinity"))).utf8) + [0]
            case .text(let s): return Array(s.utf8) + [0]
            case .blob(let d): return Array(d)
            }
        }
        let lengths = values.enumerated().map { i, v -> Int32 in if case .blob = v { return Int32(buffers[i]!.count) } else { return 0 } }
        let formats = values.map { v -> Int32 in if case .blob = v { return 1 } else { return 0 } }
        let result: OpaquePointer? = withPointers(&buffers) { pointers in
            PQexecParams(connection, statement, Int32(values.count), nil, pointers, lengths, formats, 0)
        }
        defer { PQclear(result) }
        guard let result else { throw PostgresError(sqlState: "08006", message: String(cString: PQerrorMessage(connection))) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            changes = Int(String(cString: PQcmdTuples(result))) ?? 0
            return []
        case PGRES_TUPLES_OK:
            changes = Int(String(cString: PQcmdTuples(result))) ?? 0
            return Self.rows(result)
        default:
            var state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? "XX000"
            // The server went away (shut down, restarted, crashed): a connection failure, whatever
            // the last message said.
            if PQstatus(connection) != CONNECTION_OK { state = "08006" }
            let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
                ?? String(cString: PQerrorMessage(connection))
            throw PostgresError(sqlState: state, message: message)
        }
    }

    /// Runs statements separated by semicolons (migrations), with no parameters.
    public func executeScript(_ sql: String) throws {
        guard let connection else { throw PostgresError(sqlState: "08003", message: "no connection") }
        let result = PQexec(connection, sql)
        defer { PQclear(result) }
        let status = result.map(PQresultStatus)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY else {
            let state = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) } ?? "XX000"
            throw PostgresError(sqlState: state, message: String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try transaction(begin: "BEGIN", body)
    }

    /// `?` → `$1`, `$2`, … outside quoted strings and identifiers.
    static func numberPlaceholders(_ sql: String) -> String {
        var out = ""
        var n = 0
        var quote: Character?
        for c in sql {
            if let q = quote {
                out.append(c)
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
                out.append(c)
            } else if c == "?" {
                n += 1
                out += "$\(n)"
            } else {
                out.append(c)
            }
        }
        return out
    }

    private static func rows(_ result: OpaquePointer) -> [Row] {
        let rowCount = Int(PQntuples(result)), columns = Int(PQnfields(result))
        let types = (0..<columns).map { PQftype(result, Int32($0)) }
        var rows: [Row] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var values: [SQLValue] = []
            values.reserveCapacity(columns)
            for c in 0..<columns {
                if PQgetisnull(result, Int32(r), Int32(c)) == 1 { values.append(.null); continue }
                let text = String(cString: PQgetvalue(result, Int32(r), Int32(c)))
                switch types[c] {
                case 20, 21, 23: values.append(Int64(text).map(SQLValue.integer) ?? .text(text))           // int8, int2, int4
                case 700, 701, 1700: values.append(Double(text).map(SQLValue.real) ?? .text(text))       // float4, float8, numeric
                case 16: values.append(.integer(text == "t" ? 1 : 0))                                      // bool
                case 17: values.append(.blob(Self.unhex(text)))                                            // bytea (hex output)
                default: values.append(.text(text))
                }
            }
            rows.append(Row(values: values))
        }
        return rows
    }

    /// bytea's hex output (`\x0aff…`).
    private static func unhex(_ text: String) -> Data {
        let bytes = Array(text.utf8.dropFirst(2))
        var out = Data(capacity: bytes.count / 2)
        func nibble(_ c: UInt8) -> UInt8 { c >= 97 ? c - 87 : (c >= 65 ? c - 55 : c - 48) }
        var i = 0
        while i + 1 < bytes.count { out.append(nibble(bytes[i]) << 4 | nibble(bytes[i + 1])); i += 2 }
        return out
    }
}

/// Calls `body` with C pointers to the buffers (nil for a nil buffer), valid during the call.
private func withPointers<R>(_ buffers: inout [[UInt8]?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let copies: [UnsafeMutablePointer<UInt8>?] = buffers.map { b in
        guard let b else { return nil }
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(b.count, 1))
        p.initialize(from: b, count: b.count)
        return p
    }
    defer { for p in copies { p?.deallocate() } }
    return body(copies.map { $0.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } })
}

/// An error PostgreSQL (or libpq) reported, with its SQLSTATE.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public let sqlState: String
    public let message: String
    public var description: String { "\(message) (SQLSTATE \(sqlState))" }
    /// 23505: a unique constraint refused the row.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// The server cannot be used now (connection failures, 08xxx; shutting down or restarting,
    /// 57P0x; out of connections or resources, 53xxx): a 503, not a client's or our bug.
    public var isUnavailable: Bool { sqlState.hasPrefix("08") || sqlState.hasPrefix("57P0") || sqlState.hasPrefix("53") }
    /// 22021 (a character the encoding cannot hold, e.g. U+0000) or 22P05: the client's text.
    public var isUnstorableText: Bool { sqlState == "22021" || sqlState == "22P05" }
    /// 08007: the connection was lost during COMMIT — the transaction may or may not have been committed.
    public var isCommitOutcomeUnknown: Bool { sqlState == "08007" }
    /// 40001 (serialization failure) or 40P01 (deadlock): the transaction may simply be run again.
    public var isTransient: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// Class 08: the connection failed or was lost.
    public var isConnectionFailure: Bool { sqlState.hasPrefix("08") }
}
