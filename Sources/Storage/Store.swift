import Foundation

/// The service's persistent state: experiments, runs, metric series, checkpoints.
/// Every method is one transaction; no SQL leaves this module.
public final class Store: Sendable {
    public let pool: any ConnectionPool

    /// Opens (creating) the SQLite database at `path` and applies the migrations.
    public init(path: String, migrations: Migrator, readers: Int = 4) throws {
        let sqlite = try DatabasePool(path: path, readers: readers)
        try migrations.migrate(sqlite)
        pool = sqlite
    }

    /// Connects to PostgreSQL (`postgres://…`) and applies `migrations` (the PostgreSQL set,
    /// ``Migrator/postgres(root:)``) under an advisory lock.
    public init(postgresURL: String, migrations: Migrator, connections: Int = 8) throws {
        let postgres = try PostgresPool(url: postgresURL, connections: connections)
        try migrations.migrate(postgres: postgres)
        pool = postgres
    }

    public var dialect: SQLDialect { pool.dialect }

    /// True when a write transaction can be taken (readiness).
    public func isWritable() -> Bool {
        pool.probe()
    }

    /// "ok" when the database is sound: SQLite's `PRAGMA integrity_check`; on PostgreSQL, that
    /// the server answers (it checks its own pages).
    public func integrityCheck() throws -> String {
        try pool.read { db in
            switch db.dialect {
            case .sqlite: return try db.execute("PRAGMA integrity_check").map { $0.string(0) }.joined(separator: "; ")
            case .postgres: return try db.execute("SELECT 'ok'").first?.string(0) ?? "no answer"
            }
        }
    }

    /// On PostgreSQL, calls `handler` whenever another node (or this one) queues runs, through
    /// LISTEN/NOTIFY; returns a function that stops listening. Nothing on SQLite (one process
    /// wakes its own workers). Polling stays the floor either way.
    public func listenForQueuedRuns(_ handler: @escaping @Sendable () -> Void) -> (@Sendable () -> Void)? {
        guard let postgres = pool as? PostgresPool else { return nil }
        return postgres.listen(channel: Self.queueChannel, handler: handler)
    }

    // MARK: - Idempotency

    /// Looks up a stored idempotency key. Returns the resource id for a repeat of the same
    /// request, throws `idempotencyMismatch` for a different request under the same key.
    func idempotentResource(_ db: any SQLConnection, scope: String, key: String?, requestHash: String) throws -> String? {
        guard let key else { return nil }
        guard let row = try db.execute("SELECT request_hash, resource_id FROM idempotency_keys WHERE scope = ? AND key = ?",
                                       scope, key).first else { return nil }
        guard row.string(0) == requestHash else { throw StoreError.idempotencyMismatch }
        return row.string(1)
    }

    func rememberIdempotency(_ db: any SQLConnection, scope: String, key: String?, requestHash: String, resource: String) throws {
        guard let key else { return }
        try db.execute("INSERT INTO idempotency_keys(scope, key, request_hash, resource_id, created_at) VALUES (?, ?, ?, ?, ?)",
                       scope, key, requestHash, resource, try db.now())
    }
}

extension Store {
    /// The PostgreSQL channel that wakes idle workers on every node when runs are queued.
    public static let queueChannel = "neuromod_queue"

    /// Inside a write that queued runs: on PostgreSQL, a NOTIFY delivered to every listening node
    /// when the transaction commits (polling stays the floor). Nothing on SQLite.
    static func notifyQueue(_ db: any SQLConnection) throws {
        if db.dialect == .postgres { try db.execute("NOTIFY \(queueChannel)") }
    }
}
