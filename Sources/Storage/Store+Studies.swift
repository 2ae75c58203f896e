import Foundation

extension Store {
    static let studyColumns = "seq, id, experiment_id, name, design, cells, metrics, control_cell, cancel_requested, created_at"

    static func study(_ r: Row) -> StudyRecord {
        StudyRecord(seq: r.int(0), id: r.string(1), experimentID: r.string(2), name: r.string(3), design: r.string(4),
                    cells: r.string(5), metrics: r.string(6), controlCell: r.int(7), cancelRequested: r.int(8) != 0,
                    createdAt: r.double(9))
    }

    /// Creates a study and queues all its runs in one transaction (nothing is queued if anything
    /// fails). Yoked controls wait for the run of the plan they name (`after`).
    public func createStudy(experimentID: String, name: String, design: String, cells: String, metrics: String,
                            controlCell: Int, runs: [StudyRunPlan], idempotencyKey: String? = nil,
                            requestHash: String = "") throws -> (StudyRecord, created: Bool) {
        try pool.write { db in
            let scope = "studies:" + experimentID
            if let existing = try idempotentResource(db, scope: scope, key: idempotencyKey, requestHash: requestHash),
               let study = try db.execute("SELECT \(Self.studyColumns) FROM studies WHERE id = ?", existing).first.map(Self.study) {
                return (study, false)
            }
            guard try db.execute("SELECT 1 FROM experiments WHERE id = ?", experimentID).first != nil else {
                throw StoreError.notFound("experiment \(experimentID)")
            }
            let id = Identifier.make("study")
            let now = try db.now()
            try db.execute("""
                INSERT INTO studies(id, experiment_id, name, design, cells, metrics, control_cell, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, id, experimentID, name, design, cells, metrics, controlCell, now)
            var runIDs: [String] = []
            for plan in runs {
                try requireDataset(db, spec: plan.spec)
                let runID = Identifier.make("run")
                try db.execute("""
                    INSERT INTO runs(id, experiment_id, state, spec, spec_hash, progress_total, progress_unit, created_at, updated_at,
                                     study_id, study_cell, study_seed, after_run)
                    VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, runID, experimentID, plan.spec, plan.specHash, plan.progressTotal, plan.progressUnit, now, now,
                    id, plan.cell, plan.seed, plan.after.map { runIDs[$0] })
                runIDs.append(runID)
            }
            try rememberIdempotency(db, scope: scope, key: idempotencyKey, requestHash: requestHash, resource: id)
            try Self.notifyQueue(db)
            return (try db.execute("SELECT \(Self.studyColumns) FROM studies WHERE id = ?", id).first.map(Self.study)!, true)
        }
    }

    public func study(id: String) throws -> StudyRecord? {
        try pool.read { db in try db.execute("SELECT \(Self.studyColumns) FROM studies WHERE id = ?", id).first.map(Self.study) }
    }

    /// Studies in creation order: one experiment's (nil: every experiment's).
    public func listStudies(experimentID: String?, after: Int?, limit: Int) throws -> Page<StudyRecord> {
        try pool.read { db in
            let rows: [Row]
            if let experimentID {
                guard try db.execute("SELECT 1 FROM experiments WHERE id = ?", experimentID).first != nil else {
                    throw StoreError.notFound("experiment \(experimentID)")
                }
                rows = try db.execute("""
                    SELECT \(Self.studyColumns) FROM studies WHERE experiment_id = ? AND seq > ? ORDER BY seq LIMIT ?
                    """, experimentID, after ?? 0, limit + 1)
            } else {
                rows = try db.execute("SELECT \(Self.studyColumns) FROM studies WHERE seq > ? ORDER BY seq LIMIT ?", after ?? 0, limit + 1)
            }
            let items = rows.prefix(limit).map(Self.study)
            return Page(items: Array(items), nextAfter: rows.count > limit ? items.last?.seq : nil)
        }
    }

    /// A study's runs, by cell then seed position (creation order).
    public func studyRuns(studyID: String) throws -> [RunRecord] {
        try pool.read { db in
            try db.execute("SELECT \(Self.runColumns) FROM runs WHERE study_id = ? ORDER BY seq", studyID).map(Self.run)
        }
    }

    /// How many of a study's runs are in each state.
    public func studyRunCounts(studyID: String) throws -> [RunState: Int] {
        try pool.read { db in
            var counts: [RunState: Int] = [:]
            for row in try db.execute("SELECT state, COUNT(*) FROM runs WHERE study_id = ? GROUP BY state", studyID) {
                if let state = RunState(rawValue: row.string(0)) { counts[state] = row.int(1) }
            }
            return counts
        }
    }

    /// Cancels a study: its queued runs at once, its running ones at their next step (their ids
    /// are returned so in-process workers can be told). A study whose runs have all ended is a
    /// conflict: there is nothing left to cancel.
    public func cancelStudy(id: String) throws -> [String] {
        try pool.write { db in
            guard try db.execute("SELECT 1 FROM studies WHERE id = ?", id).first != nil else { throw StoreError.notFound("study \(id)") }
            guard try db.execute("SELECT 1 FROM runs WHERE study_id = ? AND state IN ('queued', 'running') LIMIT 1", id).first != nil else {
                throw StoreError.conflict("study \(id) has already ended")
            }
            let now = try db.now()
            try db.execute("UPDATE studies SET cancel_requested = 1 WHERE id = ?", id)
            try db.execute("""
                UPDATE runs SET state = 'canceled', cancel_requested = 1, finished_at = ?, updated_at = ?
                WHERE study_id = ? AND state = 'queued'
                """, now, now, id)
            let running = try db.execute("SELECT id FROM runs WHERE study_id = ? AND state = 'running'", id).map { $0.string(0) }
            try db.execute("UPDATE runs SET cancel_requested = 1, updated_at = ? WHERE study_id = ? AND state = 'running'", now, id)
            return running
        }
    }
}
