import Foundation

extension Store {
    static let runColumns = """
        seq, id, experiment_id, state, spec, spec_hash, attempt, progress_completed, progress_total, progress_unit, \
        created_at, started_at, finished_at, updated_at, failure_reason, cancel_requested, lease_owner, lease_expires_at, summary, \
        failures, not_before, study_id, study_cell, study_seed, after_run
        """

    static func run(_ r: Row) -> RunRecord {
        RunRecord(seq: r.int(0), id: r.string(1), experimentID: r.string(2),
                  state: RunState(rawValue: r.string(3)) ?? .failed, spec: r.string(4), specHash: r.string(5),
                  attempt: r.int(6), progressCompleted: r.int(7), progressTotal: r.int(8), progressUnit: r.string(9),
                  createdAt: r.double(10), startedAt: r.optionalDouble(11), finishedAt: r.optionalDouble(12),
                  updatedAt: r.double(13), failureReason: r.optionalString(14), cancelRequested: r.int(15) != 0,
                  leaseOwner: r.optionalString(16), leaseExpiresAt: r.optionalDouble(17), summary: r.optionalString(18),
                  failures: r.int(19), notBefore: r.optionalDouble(20), studyID: r.optionalString(21),
                  studyCell: r.optionalInt(22), studySeed: r.optionalInt(23), afterRun: r.optionalString(24))
    }

    private func fetchRun(_ db: any SQLConnection, _ id: String) throws -> RunRecord? {
        try db.execute("SELECT \(Self.runColumns) FROM runs WHERE id = ?", id).first.map(Self.run)
    }

    /// Queues a run of an experiment (or returns the run created earlier under the same key).
    public func createRun(experimentID: String, spec: String, specHash: String, progressTotal: Int, progressUnit: String,
                          idempotencyKey: String? = nil, requestHash: String = "") throws -> (RunRecord, created: Bool) {
        try pool.write { db in
            let scope = "runs:" + experimentID
            if let existing = try idempotentResource(db, scope: scope, key: idempotencyKey, requestHash: requestHash),
               let run = try fetchRun(db, existing) {
                return (run, false)
            }
            guard try db.execute("SELECT 1 FROM experiments WHERE id = ?", experimentID).first != nil else {
                throw StoreError.notFound("experiment \(experimentID)")
            }
            try requireDataset(db, spec: spec)
            let id = Identifier.make("run")
            let now = try db.now()
            try db.execute("""
                INSERT INTO runs(id, experiment_id, state, spec, spec_hash, progress_total, progress_unit, created_at, updated_at)
                VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)
                """, id, experimentID, spec, specHash, progressTotal, progressUnit, now, now)
            try rememberIdempotency(db, scope: scope, key: idempotencyKey, requestHash: requestHash, resource: id)
            try Self.notifyQueue(db)
            return (try fetchRun(db, id)!, true)
        }
    }

    public func run(id: String) throws -> RunRecord? {
        try pool.readStatement { db in try fetchRun(db, id) }
    }

    /// Lists runs in creation order, optionally of one experiment and/or in one state.
    /// Runs in submission order (`newestFirst`: the reverse), optionally of one experiment and in
    /// one state; the page continues after (or, newest first, before) the `seq` `after`.
    public func listRuns(experimentID: String? = nil, state: RunState? = nil, newestFirst: Bool = false,
                         after: Int?, limit: Int) throws -> Page<RunRecord> {
        try pool.readStatement { db in
            let rows = try db.execute("""
                SELECT \(Self.runColumns) FROM runs
                WHERE \(newestFirst ? "seq < ?" : "seq > ?") AND (CAST(? AS TEXT) IS NULL OR experiment_id = ?)
                  AND (CAST(? AS TEXT) IS NULL OR state = ?)
                ORDER BY seq \(newestFirst ? "DESC" : "ASC") LIMIT ?
                """, after ?? (newestFirst ? Int.max : 0), experimentID, experimentID, state?.rawValue, state?.rawValue, limit + 1)
            let items = rows.prefix(limit).map(Self.run)
            return Page(items: Array(items), nextAfter: rows.count > limit ? items.last?.seq : nil)
        }
    }

    /// Takes the next queued run for `owner`: state running, attempt + 1, a lease until
    /// `leaseSeconds` from now. The reason of its last interruption stays in `failure_reason`
    /// until the attempt ends.
    ///
    /// Fair queue: runs are grouped — a study's runs form one group, and so do the single runs of
    /// one experiment. Among runs whose retry backoff has passed (and, for a yoked control, whose
    /// source run has succeeded) the next one comes from the group with the fewest runs running
    /// now, then the group served least recently (never served first), then the oldest run. So a
    /// run submitted after a 500-run study starts as soon as a worker frees up, and studies and
    /// experiments share the workers in turns. Yoked controls whose source run failed or was
    /// canceled fail at once.
    public func leaseNextRun(owner: String, leaseSeconds: Double) throws -> RunRecord? {
        try pool.write { db in
            let now = try db.now()
            try db.execute("""
                UPDATE runs SET state = 'failed', finished_at = ?, updated_at = ?,
                       failure_reason = 'the run whose effect trace this yoked control replays ended ' ||
                           (SELECT s.state FROM runs s WHERE s.id = runs.after_run)
                WHERE state = 'queued' AND after_run IS NOT NULL
                  AND (SELECT s.state FROM runs s WHERE s.id = runs.after_run) IN ('failed', 'canceled')
                """, now, now)
            let candidates = try db.execute("""
                WITH eligible AS (
                    SELECT r.id, r.seq, r.study_id, r.experiment_id, COALESCE(r.study_id, 'exp:' || r.experiment_id) AS g,
                           ROW_NUMBER() OVER (PARTITION BY COALESCE(r.study_id, 'exp:' || r.experiment_id) ORDER BY r.seq) AS rank_in_group
                    FROM runs r
                    WHERE r.state = 'queued' AND (r.not_before IS NULL OR r.not_before <= ?)
                      AND (r.after_run IS NULL OR (SELECT s.state FROM runs s WHERE s.id = r.after_run) = 'succeeded')),
                groups AS (SELECT g, MIN(seq) AS first_seq, MAX(study_id) AS study, MAX(experiment_id) AS experiment
                           FROM eligible GROUP BY g),
                ranked AS (
                    SELECT g, first_seq,
                           (SELECT COUNT(*) FROM runs x WHERE x.state = 'running'
                              AND COALESCE(x.study_id, 'exp:' || x.experiment_id) = groups.g) AS running,
                           CASE WHEN study IS NULL
                                THEN COALESCE((SELECT MAX(leased_at) FROM runs x WHERE x.experiment_id = groups.experiment AND x.study_id IS NULL), 0)
                                ELSE COALESCE((SELECT MAX(leased_at) FROM runs x WHERE x.study_id = groups.study), 0) END AS served
                    FROM groups)
                SELECT e.id FROM ranked JOIN eligible e ON e.g = ranked.g AND e.rank_in_group <= 8
                ORDER BY ranked.running, ranked.served, ranked.first_seq, e.seq LIMIT 8
                """, now).map { $0.string(0) }
            // On PostgreSQL other nodes claim at the same moment: take the first candidate no
            // other transaction holds and that is still queued (re-checked under the row lock).
            // The candidates are the fair order's first group's oldest runs, then the next group's.
            var claimed: String?
            for candidate in candidates {
                if try db.execute("SELECT id FROM runs WHERE id = ? AND state = 'queued'" + db.skipLocked, candidate).first != nil {
                    claimed = candidate
                    break
                }
            }
            guard let id = claimed else { return nil }
            try db.execute("""
                UPDATE runs SET state = 'running', attempt = attempt + 1, started_at = COALESCE(started_at, ?),
                       updated_at = ?, lease_owner = ?, lease_expires_at = ?, not_before = NULL, leased_at = ?
                WHERE id = ? AND state = 'queued'
                """, now, now, owner, now + leaseSeconds, now, id)
            return try fetchRun(db, id)
        }
    }

    /// Extends a lease and records progress; returns whether cancellation was requested.
    /// `attempt`: the fencing token — one process's workers share an owner name, so a worker that
    /// lost its lease to another thread of its own node is told apart by the attempt it holds.
    @discardableResult
    public func heartbeat(runID: String, owner: String, attempt: Int? = nil, leaseSeconds: Double, completed: Int, total: Int) throws -> Bool {
        try pool.write { db in
            let now = try db.now()
            try db.execute("""
                UPDATE runs SET lease_expires_at = ?, updated_at = ?, progress_completed = ?, progress_total = ?
                WHERE id = ? AND lease_owner = ? AND state = 'running' AND (CAST(? AS BIGINT) IS NULL OR attempt = ?)
                """, now + leaseSeconds, now, completed, total, runID, owner, attempt, attempt)
            guard db.changes == 1 else { throw StoreError.fenced("run \(runID): \(owner) no longer holds its lease") }
            return try db.execute("SELECT cancel_requested FROM runs WHERE id = ?", runID).first?.int(0) == 1
        }
    }

    /// Ends a run held by `owner` in a terminal state.
    public func finishRun(runID: String, owner: String, attempt: Int? = nil, state: RunState, reason: String? = nil, completed: Int? = nil,
                          summary: String? = nil) throws {
        precondition(state.isTerminal)
        try pool.write { db in
            let now = try db.now()
            try db.execute("""
                UPDATE runs SET state = ?, finished_at = ?, updated_at = ?, failure_reason = ?, lease_owner = NULL,
                       lease_expires_at = NULL, progress_completed = COALESCE(?, progress_completed),
                       summary = COALESCE(?, summary)
                WHERE id = ? AND lease_owner = ? AND state = 'running' AND (CAST(? AS BIGINT) IS NULL OR attempt = ?)
                """, state.rawValue, now, now, reason, completed, summary, runID, owner, attempt, attempt)
        }
    }

    /// Puts a run held by `owner` back in the queue (shutdown, or an infrastructure failure).
    public func requeueRun(runID: String, owner: String, attempt: Int? = nil, reason: String?) throws {
        _ = try pool.write { db in
            try db.execute("""
                UPDATE runs SET state = 'queued', updated_at = ?, lease_owner = NULL, lease_expires_at = NULL,
                       failure_reason = ?
                WHERE id = ? AND lease_owner = ? AND state = 'running' AND (CAST(? AS BIGINT) IS NULL OR attempt = ?)
                """, try db.now(), reason, runID, owner, attempt, attempt)
        }
    }

    /// Puts a run held by `owner` back in the queue after an infrastructure failure: one more
    /// failure, not leased again for `delay` seconds.
    public func retryRun(runID: String, owner: String, attempt: Int? = nil, reason: String, delay: Double) throws {
        try pool.write { db in
            let now = try db.now()
            try db.execute("""
                UPDATE runs SET state = 'queued', updated_at = ?, lease_owner = NULL, lease_expires_at = NULL,
                       failure_reason = ?, failures = failures + 1, not_before = ?
                WHERE id = ? AND lease_owner = ? AND state = 'running' AND (CAST(? AS BIGINT) IS NULL OR attempt = ?)
                """, now, reason, now + delay, runID, owner, attempt, attempt)
        }
    }

    /// At start-up: returns to the queue the running runs an earlier process of this node held
    /// (their owner starts with `nodePrefix`) and those whose lease expired — never a live lease
    /// of another node sharing the database. Runs with a pending cancel become canceled instead.
    @discardableResult
    public func recoverOrphanedRuns(nodePrefix: String) throws -> Int {
        try requeueRuns(where: "(substr(lease_owner, 1, length(CAST(? AS TEXT))) = ? OR lease_expires_at < ?)", nodePrefix, nodePrefix)
    }

    /// Returns to the queue every running run whose lease expired without being renewed — its
    /// worker could not even record its end (e.g. the disk was full). Called periodically.
    @discardableResult
    public func requeueExpiredLeases() throws -> Int {
        try requeueRuns(where: "lease_expires_at < ?")
    }

    private func requeueRuns(where condition: String, _ prefixArgs: any SQLBindable...) throws -> Int {
        try pool.write { db in
            let now = try db.now()
            let args: [any SQLBindable] = prefixArgs + [now]
            try db.execute("""
                UPDATE runs SET state = 'canceled', finished_at = ?, updated_at = ?, lease_owner = NULL, lease_expires_at = NULL
                WHERE state = 'running' AND cancel_requested = 1 AND \(condition)
                """, arguments: [now, now] + args)
            try db.execute("""
                UPDATE runs SET state = 'queued', updated_at = ?, lease_owner = NULL, lease_expires_at = NULL,
                       failure_reason = 'interrupted: the worker holding this run stopped', failures = failures + 1
                WHERE state = 'running' AND \(condition)
                """, arguments: [now] + args)
            return db.changes
        }
    }

    /// Cancels a queued run at once, or flags a running one for its worker to stop.
    public func requestCancel(runID: String) throws -> RunRecord {
        try pool.write { db in
            // Locked: a claim on another node cannot turn the run running between this read and the update.
            guard let run = try db.execute("SELECT \(Self.runColumns) FROM runs WHERE id = ?" + db.lockRow, runID).first.map(Self.run) else {
                throw StoreError.notFound("run \(runID)")
            }
            let now = try db.now()
            switch run.state {
            case .queued:
                try db.execute("""
                    UPDATE runs SET state = 'canceled', cancel_requested = 1, finished_at = ?, updated_at = ? WHERE id = ?
                    """, now, now, runID)
            case .running:
                try db.execute("UPDATE runs SET cancel_requested = 1, updated_at = ? WHERE id = ?", now, runID)
            case .succeeded, .failed, .canceled:
                throw StoreError.invalidState(run.state)
            }
            return try fetchRun(db, runID)!
        }
    }

    public func countRuns(state: RunState) throws -> Int {
        try pool.readStatement { db in try db.execute("SELECT COUNT(*) FROM runs WHERE state = ?", state.rawValue)[0].int(0) }
    }
}
