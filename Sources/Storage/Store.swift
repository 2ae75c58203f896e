import Foundation

/// The service's persistent state: experiments, runs, metric series, checkpoints.
/// Every method is one transaction; no SQL leaves this module.
public final class Store: Sendable {
    public let pool: DatabasePool

    /// Opens (creating) the database at `path` and applies the migrations.
    public init(path: String, migrations: Migrator, readers: Int = 4) throws {
        pool = try DatabasePool(path: path, readers: readers)
        try migrations.migrate(pool)
    }

    /// True when a write transaction can be taken (readiness).
    public func isWritable() -> Bool {
        (try? pool.write { db in try db.execute("SELECT 1 FROM experiments LIMIT 1") }) != nil
    }

    /// `PRAGMA integrity_check` → "ok" when the file is sound.
    public func integrityCheck() throws -> String {
        try pool.read { db in try db.execute("PRAGMA integrity_check").map { $0.string(0) }.joined(separator: "; ") }
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    // MARK: - Idempotency

    /// Looks up a stored idempotency key. Returns the resource id for a repeat of the same
    /// request, throws `idempotencyMismatch` for a different request under the same key.
    func idempotentResource(_ db: Database, scope: String, key: String?, requestHash: String) throws -> String? {
        guard let key else { return nil }
        guard let row = try db.execute("SELECT request_hash, resource_id FROM idempotency_keys WHERE scope = ? AND key = ?",
                                       scope, key).first else { return nil }
        guard row.string(0) == requestHash else { throw StoreError.idempotencyMismatch }
        return row.string(1)
    }

    func rememberIdempotency(_ db: Database, scope: String, key: String?, requestHash: String, resource: String) throws {
        guard let key else { return }
        try db.execute("INSERT INTO idempotency_keys(scope, key, request_hash, resource_id, created_at) VALUES (?, ?, ?, ?, ?)",
                       scope, key, requestHash, resource, Store.now())
    }
}
