import Foundation

extension Store {
    private static let checkpointColumns = "seq, id, run_id, step, file, size, sha256, created_at, score, score_metric"

    private static func checkpoint(_ r: Row) -> CheckpointRecord {
        CheckpointRecord(seq: r.int(0), id: r.string(1), runID: r.string(2), step: r.int(3), file: r.string(4),
                         size: r.int(5), sha256: r.string(6), createdAt: r.double(7),
                         score: r.optionalDouble(8), scoreMetric: r.optionalString(9))
    }

    /// Records a checkpoint file already written and synced, together with the metric points
    /// gathered up to it and the run's progress, in one transaction.
    public func recordCheckpoint(_ record: CheckpointRecord, metrics: [MetricPoint], completed: Int, summary: String? = nil) throws {
        try pool.write { db in
            try Self.insertMetrics(db, runID: record.runID, metrics)
            try db.execute("""
                INSERT INTO checkpoints(id, run_id, step, file, size, sha256, created_at, score, score_metric)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, record.id, record.runID, record.step, record.file, record.size, record.sha256, record.createdAt,
                record.score, record.scoreMetric)
            try db.execute("UPDATE runs SET progress_completed = ?, updated_at = ?, summary = COALESCE(?, summary) WHERE id = ?",
                           completed, Store.now(), summary, record.runID)
        }
    }

    public func checkpoints(runID: String) throws -> [CheckpointRecord] {
        try pool.read { db in
            try db.execute("SELECT \(Self.checkpointColumns) FROM checkpoints WHERE run_id = ? ORDER BY step, seq", runID)
                .map(Self.checkpoint)
        }
    }

    public func checkpoint(runID: String, id: String) throws -> CheckpointRecord? {
        try pool.read { db in
            try db.execute("SELECT \(Self.checkpointColumns) FROM checkpoints WHERE run_id = ? AND id = ?", runID, id)
                .first.map(Self.checkpoint)
        }
    }

    public func latestCheckpoint(runID: String) throws -> CheckpointRecord? {
        try pool.read { db in
            try db.execute("SELECT \(Self.checkpointColumns) FROM checkpoints WHERE run_id = ? ORDER BY step DESC, seq DESC LIMIT 1",
                           runID).first.map(Self.checkpoint)
        }
    }

    /// The checkpoint with the highest score (the latest of equals), or nil when none has a score.
    public func bestCheckpoint(runID: String) throws -> CheckpointRecord? {
        try pool.read { db in
            try db.execute("""
                SELECT \(Self.checkpointColumns) FROM checkpoints WHERE run_id = ? AND score IS NOT NULL
                ORDER BY score DESC, step DESC, seq DESC LIMIT 1
                """, runID).first.map(Self.checkpoint)
        }
    }
}
