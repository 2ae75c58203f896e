import Foundation

/// One row of `run_events`: a state change, progress, a checkpoint or a metric point of a run,
/// written by triggers (migrations 0007, 0008) in the transaction of the change itself. `seq` is global and never
/// reused: the event id of `GET /v1/runs/{id}/events`.
public struct RunEvent: Sendable, Equatable {
    public let seq: Int
    public let runID: String
    /// `state`, `progress`, `checkpoint` or `metric`.
    public let kind: String
    /// A JSON object (see the migration for the fields of each kind).
    public let data: String
    public let createdAt: Double
}

extension Store {
    static func runEvent(_ r: Row) -> RunEvent {
        RunEvent(seq: r.int(0), runID: r.string(1), kind: r.string(2), data: r.string(3), createdAt: r.double(4))
    }

    /// A run's events after `after` (exclusive) and up to `through` (inclusive), oldest first.
    public func runEvents(runID: String, after: Int, through: Int = Int.max, limit: Int = 10_000) throws -> [RunEvent] {
        try pool.readStatement { db in
            try db.execute("""
                SELECT seq, run_id, kind, data, created_at FROM run_events
                WHERE run_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?
                """, runID, after, through, limit).map(Self.runEvent)
        }
    }

    /// Every run's events after `after`, oldest first (the stream hub's poll).
    public func runEvents(after: Int, limit: Int = 10_000) throws -> [RunEvent] {
        try pool.readStatement { db in
            try db.execute("SELECT seq, run_id, kind, data, created_at FROM run_events WHERE seq > ? ORDER BY seq LIMIT ?",
                           after, limit).map(Self.runEvent)
        }
    }

    /// The newest event id (0 when there is none).
    public func latestRunEventSeq() throws -> Int {
        try pool.readStatement { db in try db.execute("SELECT COALESCE(MAX(seq), 0) FROM run_events")[0].int(0) }
    }
}

extension Store {
    /// The events of every run of a study after `after` and up to `through`, oldest first.
    public func runEvents(studyID: String, after: Int, through: Int = Int.max, limit: Int = 100_000) throws -> [RunEvent] {
        try pool.readStatement { db in
            try db.execute("""
                SELECT seq, run_id, kind, data, created_at FROM run_events
                WHERE run_id IN (SELECT id FROM runs WHERE study_id = ?) AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?
                """, studyID, after, through, limit).map(Self.runEvent)
        }
    }
}
