import Foundation

public struct ModelVersionRecord: Sendable, Equatable {
    public var name: String
    public var version: Int
    public var runID: String
    public var checkpointID: String
    public var createdAt: Double
    /// `registered` (from a run's checkpoint) or `adaptation` (a snapshot of online adaptation).
    public var origin: String
    /// The version an adapted snapshot was adapted from.
    public var parentVersion: Int?

    public init(name: String, version: Int, runID: String, checkpointID: String, createdAt: Double,
                origin: String = "registered", parentVersion: Int? = nil) {
        self.name = name
        self.version = version
        self.runID = runID
        self.checkpointID = checkpointID
        self.createdAt = createdAt
        self.origin = origin
        self.parentVersion = parentVersion
    }
}

extension Store {
    static let versionColumns = "name, version, run_id, checkpoint_id, created_at, origin, parent_version"

    static func version(_ r: Row) -> ModelVersionRecord {
        ModelVersionRecord(name: r.string(0), version: r.int(1), runID: r.string(2), checkpointID: r.string(3), createdAt: r.double(4),
                           origin: r.string(5), parentVersion: r.optionalInt(6))
    }

    /// Registers the next version of `name` for a checkpoint of a run (versions start at 1).
    public func registerModelVersion(name: String, runID: String, checkpointID: String) throws -> ModelVersionRecord {
        try pool.write { db in
            guard try db.execute("SELECT 1 FROM checkpoints WHERE id = ? AND run_id = ?" + db.keepRow, checkpointID, runID).first != nil else {
                throw StoreError.notFound("checkpoint \(checkpointID) of run \(runID)")
            }
            let next = try Self.nextModelVersion(db, name: name)
            let now = try db.now()
            // Two nodes registering at once on PostgreSQL: the second's insert hits the primary
            // key and its transaction is retried, reading the new maximum.
            try db.execute("INSERT INTO model_versions(name, version, run_id, checkpoint_id, created_at) VALUES (?, ?, ?, ?, ?)",
                           name, next, runID, checkpointID, now)
            return ModelVersionRecord(name: name, version: next, runID: runID, checkpointID: checkpointID, createdAt: now)
        }
    }

    public func modelVersions(name: String) throws -> [ModelVersionRecord] {
        try pool.read { db in
            try db.execute("SELECT \(Self.versionColumns) FROM model_versions WHERE name = ? ORDER BY version", name)
                .map(Self.version)
        }
    }

    public func modelNames() throws -> [String] {
        try pool.read { db in try db.execute("SELECT DISTINCT name FROM model_versions ORDER BY name").map { $0.string(0) } }
    }

    public func modelAliases(name: String) throws -> [String: Int] {
        try pool.read { db in
            Dictionary(uniqueKeysWithValues: try db.execute("SELECT alias, version FROM model_aliases WHERE name = ?", name)
                .map { ($0.string(0), $0.int(1)) })
        }
    }

    /// Points an alias at a version (creating or moving it).
    public func setModelAlias(name: String, alias: String, version: Int) throws {
        try pool.write { db in
            guard try db.execute("SELECT 1 FROM model_versions WHERE name = ? AND version = ?", name, version).first != nil else {
                throw StoreError.notFound("version \(version) of model \(name)")
            }
            try db.execute("""
                INSERT INTO model_aliases(name, alias, version, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at
                """, name, alias, version, try db.now())
            if try db.execute("SELECT 1 FROM model_adaptations WHERE name = ? AND alias = ?", name, alias).first != nil {
                try Self.insertModelEvent(db, name: name, alias: alias, kind: "alias_moved", version: version, data: "{}")
            }
        }
    }

    public func deleteModelAlias(name: String, alias: String) throws {
        try pool.write { db in
            try db.execute("DELETE FROM model_aliases WHERE name = ? AND alias = ?", name, alias)
            if db.changes == 0 { throw StoreError.notFound("alias \(alias) of model \(name)") }
            try db.execute("DELETE FROM model_adaptations WHERE name = ? AND alias = ?", name, alias)
            if db.changes > 0 { try Self.insertModelEvent(db, name: name, alias: alias, kind: "stopped", version: nil, data: #"{"reason":"the alias was deleted"}"#) }
        }
    }

    /// Deletes a version; refused while an alias points at it.
    public func deleteModelVersion(name: String, version: Int) throws {
        try pool.write { db in
            if let alias = try db.execute("SELECT alias FROM model_aliases WHERE name = ? AND version = ?", name, version).first?.string(0) {
                throw StoreError.conflict("alias \(alias) points at version \(version); move or delete it first")
            }
            if let alias = try db.execute("SELECT alias FROM model_adaptations WHERE name = ? AND base_version = ?", name, version).first?.string(0) {
                throw StoreError.conflict("the adaptation of alias \(alias) is anchored to version \(version); stop it first")
            }
            guard try Self.deleteVersionRow(db, name: name, version: version) else { throw StoreError.notFound("version \(version) of model \(name)") }
        }
    }

    /// The number the next version of `name` gets (versions start at 1).
    static func nextModelVersion(_ db: SQLConnection, name: String) throws -> Int {
        (try db.execute("SELECT MAX(version) FROM model_versions WHERE name = ?", name).first?.optionalInt(0) ?? 0) + 1
    }

    /// Deletes a version's row, and with an adapted snapshot its checkpoint row, which belongs to
    /// that version alone (the file is removed by the caller or swept); false when there was none.
    static func deleteVersionRow(_ db: SQLConnection, name: String, version: Int) throws -> Bool {
        let row = try db.execute("SELECT checkpoint_id, origin FROM model_versions WHERE name = ? AND version = ?", name, version).first
        try db.execute("DELETE FROM model_versions WHERE name = ? AND version = ?", name, version)
        guard db.changes > 0 else { return false }
        if let row, row.string(1) == "adaptation" {
            try db.execute("DELETE FROM checkpoints WHERE id = ? AND origin = 'adaptation'", row.string(0))
        }
        return true
    }

    /// The version a request means: an explicit version, an alias, or the latest.
    public func resolveModelVersion(name: String, version: Int?, alias: String?) throws -> ModelVersionRecord {
        try pool.read { db in
            var v = version
            if let alias {
                guard let row = try db.execute("SELECT version FROM model_aliases WHERE name = ? AND alias = ?", name, alias).first else {
                    throw StoreError.notFound("alias \(alias) of model \(name)")
                }
                v = row.int(0)
            }
            let rows = v == nil
                ? try db.execute("SELECT \(Self.versionColumns) FROM model_versions WHERE name = ? ORDER BY version DESC LIMIT 1", name)
                : try db.execute("SELECT \(Self.versionColumns) FROM model_versions WHERE name = ? AND version = ?", name, v!)
            guard let r = rows.first else { throw StoreError.notFound(v.map { "version \($0) of model \(name)" } ?? "model \(name)") }
            return Self.version(r)
        }
    }
}
