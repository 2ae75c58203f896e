import Foundation

/// Which SQL engine a connection speaks. The store writes portable SQL and asks the dialect
/// only where the two differ (row locks, upserts that must fire event triggers, the clock).
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres
}

/// One connection, as the store's repositories use it: positional `?` arguments, rows of
/// ``SQLValue``s. ``Database`` (SQLite) and ``PostgresConnection`` conform.
public protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }
    /// Runs one statement with positional arguments and returns its rows.
    @discardableResult
    func execute(_ sql: String, arguments: [any SQLBindable]) throws -> [Row]
    /// Rows changed by the last INSERT/UPDATE/DELETE.
    var changes: Int { get }
    /// The time that leases and records use, in seconds since 1970: the database server's clock
    /// on PostgreSQL (shared by every node), this process's on SQLite (one machine).
    func now() throws -> Double
}

extension SQLConnection {
    @discardableResult
    public func execute(_ sql: String, _ arguments: any SQLBindable...) throws -> [Row] {
        try execute(sql, arguments: arguments)
    }

    /// Runs `body` between `begin` and `COMMIT`, rolling back when it throws.
    func transaction<T>(begin: String, _ body: () throws -> T) throws -> T {
        try execute(begin)
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    /// ` FOR UPDATE SKIP LOCKED` on PostgreSQL (claim a row no other transaction holds); nothing
    /// on SQLite, whose single writer already serialises claims.
    var skipLocked: String { dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : "" }

    /// ` FOR NO KEY UPDATE` on PostgreSQL: a fencing check that holds the row until commit, so a takeover
    /// cannot slip between the check and the writes it guards. Nothing on SQLite (single writer).
    var lockRow: String { dialect == .postgres ? " FOR NO KEY UPDATE" : "" }

    /// ` FOR UPDATE` on PostgreSQL: the row is about to be deleted (or may be), and no other
    /// transaction may use it meanwhile. Nothing on SQLite.
    var lockForDelete: String { dialect == .postgres ? " FOR UPDATE" : "" }

    /// ` FOR SHARE` on PostgreSQL: the row must still exist when this transaction commits (a
    /// delete waits for it). Nothing on SQLite.
    var keepRow: String { dialect == .postgres ? " FOR SHARE" : "" }
}

/// Where the store's transactions run: a pool of connections to one database.
public protocol ConnectionPool: AnyObject, Sendable {
    var dialect: SQLDialect { get }
    /// A human-readable location (a file path, or a PostgreSQL URL without its password).
    var location: String { get }
    /// Runs `body` in a write transaction (committed when it returns, rolled back when it throws).
    func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// Runs `body` in a read-only transaction that sees one consistent snapshot.
    func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// Runs `body`, which issues exactly one statement, without a transaction around it (a
    /// single statement sees one snapshot anyway): on PostgreSQL one round trip instead of three.
    func readStatement<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// Whether a write could be made now (readiness): answered at once, without waiting out
    /// reconnections.
    func probe() -> Bool
    /// Called with the seconds each write transaction took (waits included), for metrics.
    var onWrite: (@Sendable (Double) -> Void)? { get set }
}
