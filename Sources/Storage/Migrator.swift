import Foundation

/// Applies `migrations/NNNN_name.sql` in order, tracked by `PRAGMA user_version`.
public struct Migrator: Sendable {
    public struct Migration: Sendable {
        public var version: Int
        public var name: String
        public var sql: String
    }

    public let migrations: [Migration]

    /// Loads every `NNNN_*.sql` file of a folder; versions must be 1, 2, 3… without gaps.
    public init(directory: URL) throws {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw StorageSetupError("cannot read migrations folder \(directory.path)")
        }
        var found: [Migration] = []
        for name in names where name.hasSuffix(".sql") {
            guard let version = Int(name.prefix { $0.isNumber }), version > 0 else {
                throw StorageSetupError("migration file \(name) does not start with a version number")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            found.append(Migration(version: version, name: name, sql: sql))
        }
        found.sort { $0.version < $1.version }
        for (i, m) in found.enumerated() where m.version != i + 1 {
            throw StorageSetupError("migrations must be numbered 1, 2, 3…; found \(m.name) at position \(i + 1)")
        }
        guard !found.isEmpty else { throw StorageSetupError("no migrations in \(directory.path)") }
        migrations = found
    }

    /// The migrations of one dialect under the migrations folder: its `NNNN_*.sql` files for
    /// SQLite, those of its `postgres/` folder for PostgreSQL (the same versions, the same schema).
    public init(root: URL, dialect: SQLDialect) throws {
        try self.init(directory: dialect == .postgres ? root.appendingPathComponent("postgres") : root)
    }

    /// The newest schema version the code knows.
    public var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the database up to ``latestVersion``; returns the versions applied. Refuses a
    /// database whose version is newer than the code.
    @discardableResult
    public func migrate(_ pool: DatabasePool) throws -> [Int] {
        try pool.withWriter { db in
            let current = try db.execute("PRAGMA user_version").first?.int(0) ?? 0
            if current > latestVersion {
                throw StorageSetupError("database schema version \(current) is newer than this build (\(latestVersion)); upgrade neuromod")
            }
            var applied: [Int] = []
            for m in migrations where m.version > current {
                let ran: Bool
                do {
                    ran = try db.transaction {
                        // Another process starting at the same time may have applied it meanwhile:
                        // the version is read again under the write lock.
                        if try db.execute("PRAGMA user_version").first?.int(0) ?? 0 >= m.version { return false }
                        try db.executeScript(m.sql)
                        try db.execute("PRAGMA user_version = \(m.version)")
                        return true
                    }
                } catch {
                    throw StorageSetupError("migration \(m.name) failed: \(error)")
                }
                if ran { applied.append(m.version) }
            }
            return applied
        }
    }

    /// Brings a PostgreSQL database up to ``latestVersion`` (this migrator must hold the
    /// PostgreSQL set, `migrations/postgres/`). Nodes starting together migrate once: the work
    /// happens under a session advisory lock, and the version (table `neuromod_schema`) is read
    /// under it. Each migration is one transaction.
    @discardableResult
    public func migrate(postgres pool: PostgresPool) throws -> [Int] {
        try pool.withConnection { c in
            try c.execute("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
            defer { _ = try? c.execute("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))") }
            try c.execute("CREATE TABLE IF NOT EXISTS neuromod_schema (version BIGINT NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            let current = try c.execute("SELECT COALESCE(MAX(version), 0) FROM neuromod_schema").first?.int(0) ?? 0
            if current > latestVersion {
                throw StorageSetupError("database schema version \(current) is newer than this build (\(latestVersion)); upgrade neuromod")
            }
            var applied: [Int] = []
            for m in migrations where m.version > current {
                do {
                    try c.transaction {
                        try c.executeScript(m.sql)
                        try c.execute("INSERT INTO neuromod_schema(version, name) VALUES (?, ?)", m.version, m.name)
                    }
                } catch {
                    throw StorageSetupError("migration postgres/\(m.name) failed: \(error)")
                }
                applied.append(m.version)
            }
            return applied
        }
    }

    /// The key of the advisory lock migrations take ("neuromod" in ASCII, as a number).
    static let advisoryLockKey: Int64 = 0x6E65_7572_6F6D_6F64
}
