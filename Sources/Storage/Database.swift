import CSQLite
import Foundation

/// One SQLite connection with a prepared-statement cache. Not thread-safe: a ``DatabasePool``
/// hands each connection to one thread at a time.
public final class Database: SQLConnection {
    public var dialect: SQLDialect { .sqlite }

    /// This machine's clock (one machine shares one SQLite file).
    public func now() throws -> Double { Date().timeIntervalSince1970 }

    let handle: OpaquePointer
    public let path: String
    private var cache: [String: Statement] = [:]

    /// Opens (creating if needed, unless `readOnly`) the database file and applies the
    /// connection settings: WAL, `synchronous=NORMAL`, foreign keys, a busy timeout.
    public init(path: String, readOnly: Bool = false, busyTimeoutMs: Int32 = 5000) throws {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw DatabaseError(code: rc, message: "\(message) (\(path))")
        }
        handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMs)
        if !readOnly {
            // Switching a new database to WAL takes an exclusive lock that the busy handler does
            // not wait for: a process creating the same database at the same moment (nodes
            // starting together) gets SQLITE_BUSY at once. Retry within the busy timeout.
            let deadline = Date().addingTimeInterval(Double(busyTimeoutMs) / 1000)
            while true {
                do {
                    try execute("PRAGMA journal_mode=WAL")
                    break
                } catch let error as DatabaseError where error.isBusy && Date() < deadline {
                    Thread.sleep(forTimeInterval: 0.01)
                }
            }
        }
        try execute("PRAGMA synchronous=NORMAL")
        try execute("PRAGMA foreign_keys=ON")
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Runs a statement (prepared and cached) with positional arguments; returns its rows.
    @discardableResult
    public func execute(_ sql: String, arguments: [any SQLBindable]) throws -> [Row] {
        let stmt = try statement(sql)
        try stmt.bind(arguments)
        return try stmt.rows()
    }

    /// Runs several `;`-separated statements (migrations); no arguments.
    public func executeScript(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let message = err.map { String(cString: $0) } ?? "error"
            sqlite3_free(err)
            throw DatabaseError(code: rc & 0xff, extendedCode: rc, message: message)
        }
    }

    /// Rows changed by the last INSERT/UPDATE/DELETE.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back on error.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try transaction(begin: "BEGIN IMMEDIATE", body)
    }

    private func statement(_ sql: String) throws -> Statement {
        if let s = cache[sql] { return s }
        let s = try Statement(database: self, sql: sql)
        cache[sql] = s
        return s
    }

    func error(_ rc: Int32, sql: String?) -> DatabaseError {
        DatabaseError(code: rc & 0xff, extendedCode: sqlite3_extended_errcode(handle),
                      message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }
}
