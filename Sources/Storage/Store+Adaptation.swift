import Foundation

/// One alias's adaptation policy and where it stands (`model_adaptations`, migration 0010).
public struct AdaptationRecord: Sendable, Equatable {
    public var name: String
    public var alias: String
    /// A new id each time adaptation of the alias (re)starts: snapshots of an earlier start are refused.
    public var generation: String
    /// The policy, as JSON.
    public var policy: String
    /// The canary set `{"inputs": [[…]], "labels": […]}`, as JSON, or nil.
    public var canary: String?
    /// The version adaptation began from: consolidation pulls toward it, drift is measured from it.
    public var baseVersion: Int
    /// `active` or `frozen`.
    public var state: String
    public var reason: String?
    /// Updates made up to the alias's current version (updates after it die with the process).
    public var updates: Int
    public var createdAt: Double
    public var updatedAt: Double
}

/// One entry of a model's audit trail (`model_events`).
public struct ModelEvent: Sendable, Equatable {
    public var seq: Int
    public var name: String
    public var alias: String?
    /// `started`, `snapshot`, `snapshot_failed`, `shift_detected`, `frozen`, `alias_moved` or `stopped`.
    public var kind: String
    public var version: Int?
    /// A JSON object.
    public var data: String
    public var createdAt: Double
}

extension Store {
    private static let adaptationColumns = "name, alias, generation, policy, canary, base_version, state, reason, updates, created_at, updated_at"

    private static func adaptation(_ r: Row) -> AdaptationRecord {
        AdaptationRecord(name: r.string(0), alias: r.string(1), generation: r.string(2), policy: r.string(3), canary: r.optionalString(4),
                         baseVersion: r.int(5), state: r.string(6), reason: r.optionalString(7), updates: r.int(8),
                         createdAt: r.double(9), updatedAt: r.double(10))
    }

    static func insertModelEvent(_ db: SQLConnection, name: String, alias: String?, kind: String, version: Int?, data: String) throws {
        try db.execute("INSERT INTO model_events(name, alias, kind, version, data, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                       name, alias, kind, version, data, try db.now())
    }

    /// Starts (or restarts) adaptation of `alias` from the version it points at now; returns the
    /// record. A restart begins a new count from the current version.
    public func startAdaptation(name: String, alias: String, policy: String, canary: String?, data: String) throws -> AdaptationRecord {
        try pool.write { db in
            guard let row = try db.execute("SELECT version FROM model_aliases WHERE name = ? AND alias = ?" + db.keepRow, name, alias).first else {
                throw StoreError.notFound("alias \(alias) of model \(name)")
            }
            let version = row.int(0), now = try db.now(), generation = Identifier.make("adapt")
            try db.execute("""
                INSERT INTO model_adaptations(name, alias, generation, policy, canary, base_version, state, reason, updates, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, 'active', NULL, 0, ?, ?)
                ON CONFLICT (name, alias) DO UPDATE SET generation = excluded.generation, policy = excluded.policy, canary = excluded.canary,
                    base_version = excluded.base_version, state = 'active', reason = NULL, updates = 0,
                    created_at = excluded.created_at, updated_at = excluded.updated_at
                """, name, alias, generation, policy, canary, version, now, now)
            try Self.insertModelEvent(db, name: name, alias: alias, kind: "started", version: version, data: data)
            return AdaptationRecord(name: name, alias: alias, generation: generation, policy: policy, canary: canary, baseVersion: version,
                                    state: "active", reason: nil, updates: 0, createdAt: now, updatedAt: now)
        }
    }

    public func adaptation(name: String, alias: String) throws -> AdaptationRecord? {
        try pool.read { db in
            try db.execute("SELECT \(Self.adaptationColumns) FROM model_adaptations WHERE name = ? AND alias = ?", name, alias)
                .first.map(Self.adaptation)
        }
    }

    /// Every alias's adaptation (restored when a server starts).
    public func adaptations() throws -> [AdaptationRecord] {
        try pool.read { db in
            try db.execute("SELECT \(Self.adaptationColumns) FROM model_adaptations ORDER BY name, alias").map(Self.adaptation)
        }
    }

    /// Stops adaptation of an alias (the alias stays where it points), with a `stopped` event
    /// carrying `data` (a JSON object); with `generation`, only that start of it (a later start
    /// through another node is left alone: 404).
    public func stopAdaptation(name: String, alias: String, generation: String?, data: String) throws {
        try pool.write { db in
            if let generation {
                try db.execute("DELETE FROM model_adaptations WHERE name = ? AND alias = ? AND generation = ?", name, alias, generation)
            } else {
                try db.execute("DELETE FROM model_adaptations WHERE name = ? AND alias = ?", name, alias)
            }
            if db.changes == 0 { throw StoreError.notFound("adaptation of alias \(alias) of model \(name)") }
            try Self.insertModelEvent(db, name: name, alias: alias, kind: "stopped", version: nil, data: data)
        }
    }

    /// Records an adapted snapshot in one transaction: its checkpoint (already written durably,
    /// origin `adaptation`), the next version of the model (its parent the alias's version), the
    /// alias moved to it, the adaptation's update count, and a `snapshot` event. Refused (409)
    /// when this start of the adaptation (`generation`) is no longer the active one, or the alias
    /// moved away from `parent` meanwhile.
    public func recordAdaptedVersion(name: String, alias: String, generation: String, parent: Int, checkpoint c: CheckpointRecord,
                                     updates: Int, data: String) throws -> ModelVersionRecord {
        try pool.write { db in
            guard let a = try db.execute("SELECT state, generation FROM model_adaptations WHERE name = ? AND alias = ?" + db.lockForDelete,
                                         name, alias).first,
                  a.string(0) == "active", a.string(1) == generation else {
                throw StoreError.conflict("adaptation of alias \(alias) is no longer active in the form that made this snapshot")
            }
            guard try db.execute("SELECT version FROM model_aliases WHERE name = ? AND alias = ?" + db.lockForDelete, name, alias)
                .first?.int(0) == parent else {
                throw StoreError.conflict("alias \(alias) no longer points at version \(parent)")
            }
            try db.execute("""
                INSERT INTO checkpoints(id, run_id, step, file, size, sha256, created_at, score, score_metric, origin)
                VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, 'adaptation')
                """, c.id, c.runID, c.step, c.file, c.size, c.sha256, c.createdAt)
            let next = try Self.nextModelVersion(db, name: name)
            let now = try db.now()
            try db.execute("""
                INSERT INTO model_versions(name, version, run_id, checkpoint_id, created_at, origin, parent_version)
                VALUES (?, ?, ?, ?, ?, 'adaptation', ?)
                """, name, next, c.runID, c.id, now, parent)
            // Moved only from `parent` (the row is locked above on PostgreSQL; SQLite writes one at a time).
            try db.execute("UPDATE model_aliases SET version = ?, updated_at = ? WHERE name = ? AND alias = ? AND version = ?",
                           next, now, name, alias, parent)
            guard db.changes == 1 else { throw StoreError.conflict("alias \(alias) no longer points at version \(parent)") }
            try db.execute("UPDATE model_adaptations SET updates = ?, updated_at = ? WHERE name = ? AND alias = ?", updates, now, name, alias)
            try Self.insertModelEvent(db, name: name, alias: alias, kind: "snapshot", version: next, data: data)
            return ModelVersionRecord(name: name, version: next, runID: c.runID, checkpointID: c.id, createdAt: now,
                                      origin: "adaptation", parentVersion: parent)
        }
    }

    /// Freezes an alias's adaptation (the start `generation`) and records why (a `frozen` event).
    public func freezeAdaptation(name: String, alias: String, generation: String, reason: String, version: Int?, data: String) throws {
        try pool.write { db in
            try db.execute("UPDATE model_adaptations SET state = 'frozen', reason = ?, updated_at = ? WHERE name = ? AND alias = ? AND generation = ?",
                           reason, try db.now(), name, alias, generation)
            if db.changes == 0 { throw StoreError.notFound("adaptation of alias \(alias) of model \(name)") }
            try Self.insertModelEvent(db, name: name, alias: alias, kind: "frozen", version: version, data: data)
        }
    }

    /// Deletes the oldest adapted versions of `name` beyond the newest `keep` (never one an alias
    /// points at or an adaptation is anchored to), with their checkpoint rows; returns the rows so
    /// their files can be removed afterwards.
    public func pruneAdaptedVersions(name: String, keep: Int) throws -> [CheckpointRecord] {
        try pool.write { db in
            let candidates = try db.execute("""
                SELECT v.version, v.checkpoint_id FROM model_versions v
                WHERE v.name = ? AND v.origin = 'adaptation'
                  AND NOT EXISTS (SELECT 1 FROM model_aliases a WHERE a.name = v.name AND a.version = v.version)
                  AND NOT EXISTS (SELECT 1 FROM model_adaptations d WHERE d.name = v.name AND d.base_version = v.version)
                ORDER BY v.version DESC
                """ + db.lockForDelete, name).map { ($0.int(0), $0.string(1)) }
            var removed: [CheckpointRecord] = []
            for (version, checkpoint) in candidates.dropFirst(max(keep, 0)) {
                if let c = try db.execute("SELECT \(Self.checkpointColumns) FROM checkpoints WHERE id = ?", checkpoint).first.map(Self.checkpoint) {
                    removed.append(c)
                }
                _ = try Self.deleteVersionRow(db, name: name, version: version)
            }
            return removed
        }
    }

    /// Appends an event to a model's trail.
    public func recordModelEvent(name: String, alias: String?, kind: String, version: Int?, data: String) throws {
        try pool.write { db in try Self.insertModelEvent(db, name: name, alias: alias, kind: kind, version: version, data: data) }
    }

    /// A model's events after `after` (exclusive), oldest first.
    public func modelEvents(name: String, after: Int = 0, limit: Int = 1000) throws -> [ModelEvent] {
        try pool.read { db in
            try db.execute("""
                SELECT seq, name, alias, kind, version, data, created_at FROM model_events
                WHERE name = ? AND seq > ? ORDER BY seq LIMIT ?
                """, name, after, limit).map {
                ModelEvent(seq: $0.int(0), name: $0.string(1), alias: $0.optionalString(2), kind: $0.string(3),
                           version: $0.optionalInt(4), data: $0.string(5), createdAt: $0.double(6))
            }
        }
    }
}
