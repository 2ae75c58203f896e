import Foundation

extension Store {
    static let checkpointColumns = "seq, id, run_id, step, file, size, sha256, created_at, score, score_metric"

    static func checkpoint(_ r: Row) -> CheckpointRecord {
        CheckpointRecord(seq: r.int(0), id: r.string(1), runID: r.string(2), step: r.int(3), file: r.string(4),
                         size: r.int(5), sha256: r.string(6), createdAt: r.double(7),
                         score: r.optionalDouble(8), scoreMetric: r.optionalString(9))
    }

    /// Records a checkpoint file already written and synced, together with the metric points
    /// gathered up to it and the run's progress, in one transaction.
    public func recordCheckpoint(_ record: CheckpointRecord, metrics: [MetricPoint], completed: Int, summary: String? = nil,
                                 lease: Lease? = nil) throws {
        try pool.write { db in
            if let lease { try Self.requireLease(db, lease) }
            try Self.insertMetrics(db, runID: record.runID, metrics)
            try db.execute("""
                INSERT INTO checkpoints(id, run_id, step, file, size, sha256, created_at, score, score_metric)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, record.id, record.runID, record.step, record.file, record.size, record.sha256, record.createdAt,
                record.score, record.scoreMetric)
            try db.execute("UPDATE runs SET progress_completed = ?, updated_at = ?, summary = COALESCE(?, summary) WHERE id = ?",
                           completed, try db.now(), summary, record.runID)
        }
    }

    /// The run's own checkpoints (not the snapshots of models adapted from it), oldest first.
    public func checkpoints(runID: String) throws -> [CheckpointRecord] {
        try pool.readStatement { db in
            try db.execute("SELECT \(Self.checkpointColumns) FROM checkpoints WHERE run_id = ? AND origin = 'training' ORDER BY step, seq", runID)
                .map(Self.checkpoint)
        }
    }

    public func checkpoint(runID: String, id: String) throws -> CheckpointRecord? {
        try pool.readStatement { db in
            try db.execute("SELECT \(Self.checkpointColumns) FROM checkpoints WHERE run_id = ? AND id = ?", runID, id)
                .first.map(Self.checkpoint)
        }
    }

    /// The run's newest own checkpoint (what a resume starts from).
    public func latestCheckpoint(runID: String) throws -> CheckpointRecord? {
        try pool.readStatement { db in
            try db.execute("SELECT \(Self.checkpointColumns) FROM checkpoints WHERE run_id = ? AND origin = 'training' ORDER BY step DESC, seq DESC LIMIT 1",
                           runID).first.map(Self.checkpoint)
        }
    }

    /// The checkpoint with the highest score (the latest of equals), or nil when none has a score.
    public func bestCheckpoint(runID: String) throws -> CheckpointRecord? {
        try pool.readStatement { db in
            try db.execute("""
                SELECT \(Self.checkpointColumns) FROM checkpoints WHERE run_id = ? AND origin = 'training' AND score IS NOT NULL
                ORDER BY score DESC, step DESC, seq DESC LIMIT 1
                """, runID).first.map(Self.checkpoint)
        }
    }

    /// Checkpoint retention: deletes the records of `runID`'s checkpoints that are neither among
    /// the newest `keepLast`, nor among the `keepBest` best-scoring, nor serving a registered model
    /// version; returns them so their files can be removed afterwards (a crash in between leaves
    /// only unreferenced files).
    public func pruneCheckpoints(runID: String, keepLast: Int, keepBest: Int) throws -> [CheckpointRecord] {
        try pool.write { db in
            // Locked: a model version being registered for one of them (which keeps its row)
            // commits before the served set is read below, or waits for the prune.
            let all = try db.execute("SELECT \(Self.checkpointColumns) FROM checkpoints WHERE run_id = ? AND origin = 'training' ORDER BY step DESC, seq DESC"
                                     + db.lockForDelete, runID).map(Self.checkpoint)
            var keep = Set(all.prefix(max(keepLast, 1)).map(\.id))
            let best = all.filter { $0.score != nil }.sorted { ($0.score!, $0.step) > ($1.score!, $1.step) }
            keep.formUnion(best.prefix(keepBest).map(\.id))
            let served = Set(try db.execute("SELECT checkpoint_id FROM model_versions WHERE run_id = ?", runID).map { $0.string(0) })
            keep.formUnion(served)
            let doomed = all.filter { !keep.contains($0.id) }
            for c in doomed { try db.execute("DELETE FROM checkpoints WHERE id = ?", c.id) }
            return doomed
        }
    }

    /// Every checkpoint file (object) name a row records (the orphan sweep keeps these).
    public func recordedCheckpointFiles() throws -> Set<String> {
        try pool.read { db in Set(try db.execute("SELECT file FROM checkpoints").map { $0.string(0) }) }
    }
}
