import CSQLite

/// An SQLite failure: the result code, the extended code and SQLite's message.
public struct DatabaseError: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var extendedCode: Int32
    public var message: String
    public var sql: String?

    public init(code: Int32, extendedCode: Int32? = nil, message: String, sql: String? = nil) {
        self.code = code
        self.extendedCode = extendedCode ?? code
        self.message = message
        self.sql = sql
    }

    /// The disk (or quota) is full.
    public var isDiskFull: Bool { code == SQLITE_FULL }
    /// Another connection held the lock past the busy timeout.
    public var isBusy: Bool { code == SQLITE_BUSY || code == SQLITE_LOCKED }
    /// A UNIQUE / PRIMARY KEY / CHECK / FOREIGN KEY constraint failed.
    public var isConstraint: Bool { code == SQLITE_CONSTRAINT }

    public var description: String {
        "SQLite error \(code) (\(extendedCode)): \(message)" + (sql.map { " [\($0)]" } ?? "")
    }
}

/// A schema or data-folder problem found at start-up.
public struct StorageSetupError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
