import XCTest
@testable import Storage

/// The store's behaviour, the same on SQLite and on PostgreSQL: each test class supplies a fresh
/// store and runs every check (`StoreTests`, `PostgresStoreTests`).
protocol StoreContract {
    func makeStore() throws -> Store
}

extension StoreContract {
    /// A heartbeat's progress becomes one `progress` event; the end is a state event.
    func checkProgressEvents() throws {
        let store = try makeStore()
        let (exp, _) = try store.createExperiment(name: "e", description: "")
        let (run, _) = try store.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 10, progressUnit: "steps")
        _ = try store.leaseNextRun(owner: "w", leaseSeconds: 30)
        let before = try store.runEvents(after: 0)
        XCTAssertEqual(before.map(\.kind), ["state", "state"])
        try store.heartbeat(runID: run.id, owner: "w", leaseSeconds: 30, completed: 4, total: 10)
        try store.heartbeat(runID: run.id, owner: "w", leaseSeconds: 30, completed: 4, total: 10)
        try store.finishRun(runID: run.id, owner: "w", state: .succeeded, completed: 10)
        let after = try store.runEvents(after: before.last!.seq)
        XCTAssertEqual(after.map(\.kind), ["progress", "state"], "one progress event per change; the end is a state event")
        XCTAssertGreaterThan(after[0].seq, before.last!.seq, "ids continue")
        XCTAssertEqual(try jsonObject(after[0].data) as NSDictionary, ["completed": 4, "total": 10])
        let end = try jsonObject(after[1].data)
        XCTAssertEqual(end["state"] as? String, "succeeded")
        XCTAssertEqual((end["progress"] as? [String: Any])?["completed"] as? Int, 10)
    }

    /// Checkpoints with scores and retention, the model registry (versions, moving aliases), data
    /// sets that runs use.
    func checkCheckpointsModelsAndDatasets() throws {
        let store = try makeStore()
        let (exp, _) = try store.createExperiment(name: "e", description: "")
        let (run, _) = try store.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 30, progressUnit: "steps")
        _ = try store.leaseNextRun(owner: "w", leaseSeconds: 30)
        let lease = Lease(runID: run.id, owner: "w", attempt: 1)
        for (i, score) in [0.5, 0.9, 0.7].enumerated() {
            try store.recordCheckpoint(CheckpointRecord(seq: 0, id: "ckpt_\(i)", runID: run.id, step: (i + 1) * 10, file: "f\(i)", size: 100,
                                                        sha256: "s", createdAt: 0, score: score, scoreMetric: "val.accuracy"),
                                       metrics: [MetricPoint(key: "loss", step: (i + 1) * 10, value: Double(i), time: 0)],
                                       completed: (i + 1) * 10, lease: lease)
        }
        XCTAssertEqual(try store.latestCheckpoint(runID: run.id)?.id, "ckpt_2")
        XCTAssertEqual(try store.bestCheckpoint(runID: run.id)?.id, "ckpt_1")
        XCTAssertEqual(try store.run(id: run.id)?.progressCompleted, 30)
        let v1 = try store.registerModelVersion(name: "m", runID: run.id, checkpointID: "ckpt_0")
        let v2 = try store.registerModelVersion(name: "m", runID: run.id, checkpointID: "ckpt_2")
        XCTAssertEqual([v1.version, v2.version], [1, 2])
        try store.setModelAlias(name: "m", alias: "prod", version: 1)
        try store.setModelAlias(name: "m", alias: "prod", version: 2)
        XCTAssertEqual(try store.modelAliases(name: "m"), ["prod": 2], "an alias moves")
        XCTAssertThrowsError(try store.setModelAlias(name: "m", alias: "x", version: 9))
        // Retention keeps the newest, the best and what a model version serves.
        XCTAssertEqual(try store.pruneCheckpoints(runID: run.id, keepLast: 1, keepBest: 1).map(\.id), [])
        try store.deleteModelAlias(name: "m", alias: "prod")
        XCTAssertThrowsError(try store.deleteModelAlias(name: "m", alias: "prod")) { XCTAssertEqual($0 as? StoreError, .notFound("alias prod of model m")) }
        XCTAssertEqual(try store.metricKeys(runID: run.id).first?.count, 3)
        // A data set a queued run names cannot be deleted; once the run ended it can.
        _ = try store.createDataset(id: "ds_1", name: "mine", format: "npz", sha256: "d", bytes: 1_000, description: "{}")
        let (user, _) = try store.createRun(experimentID: exp.id, spec: #"{"data":{"dataset":"ds_1"}}"#, specHash: "h",
                                            progressTotal: 1, progressUnit: "steps")
        XCTAssertThrowsError(try store.createRun(experimentID: exp.id, spec: #"{"data":{"dataset":"ds_9"}}"#, specHash: "h",
                                                 progressTotal: 1, progressUnit: "steps")) { XCTAssertEqual($0 as? StoreError, .notFound("data set ds_9")) }
        XCTAssertThrowsError(try store.deleteDataset(id: "ds_1")) { guard case StoreError.conflict = $0 else { return XCTFail("\($0)") } }
        _ = try store.requestCancel(runID: user.id)
        XCTAssertEqual(try store.deleteDataset(id: "ds_1").id, "ds_1")
        XCTAssertEqual(try store.storedBytes(), 300)
        XCTAssertEqual(try store.integrityCheck(), "ok")
    }

    /// An alias's adaptation: started from the alias's version, snapshots recorded as versions
    /// (with checkpoints that are not the run's own), refused once the alias moved, frozen with
    /// an event, anchored versions kept, and dropped with its alias.
    func checkModelAdaptation() throws {
        let store = try makeStore()
        let (exp, _) = try store.createExperiment(name: "e", description: "")
        let (run, _) = try store.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 10, progressUnit: "steps")
        _ = try store.leaseNextRun(owner: "w", leaseSeconds: 30)
        try store.recordCheckpoint(CheckpointRecord(id: "ckpt_a", runID: run.id, step: 10, file: "fa", size: 100, sha256: "s", createdAt: 0),
                                   metrics: [], completed: 10, lease: Lease(runID: run.id, owner: "w", attempt: 1))
        _ = try store.registerModelVersion(name: "m", runID: run.id, checkpointID: "ckpt_a")
        XCTAssertThrowsError(try store.startAdaptation(name: "m", alias: "prod", policy: "{}", canary: nil, data: "{}")) {
            XCTAssertEqual($0 as? StoreError, .notFound("alias prod of model m"))
        }
        try store.setModelAlias(name: "m", alias: "prod", version: 1)
        let started = try store.startAdaptation(name: "m", alias: "prod", policy: #"{"learning_rate":0.1}"#, canary: "[1]", data: "{}")
        XCTAssertEqual(started.baseVersion, 1)
        XCTAssertEqual(try store.adaptation(name: "m", alias: "prod")?.canary, "[1]")
        let snapshot = CheckpointRecord(id: "ckpt_s", runID: run.id, step: 10, file: "fs", size: 50, sha256: "t", createdAt: 0)
        XCTAssertThrowsError(try store.recordAdaptedVersion(name: "m", alias: "prod", generation: "another start", parent: 1, checkpoint: snapshot,
                                                            updates: 7, data: "{}"), "a snapshot of an earlier start is refused")
        let v2 = try store.recordAdaptedVersion(name: "m", alias: "prod", generation: started.generation, parent: 1, checkpoint: snapshot,
                                                updates: 7, data: #"{"updates":7}"#)
        XCTAssertEqual(v2.version, 2)
        XCTAssertEqual(try store.modelVersions(name: "m").map(\.origin), ["registered", "adaptation"])
        XCTAssertEqual(try store.modelVersions(name: "m").last?.parentVersion, 1)
        XCTAssertEqual(try store.modelAliases(name: "m"), ["prod": 2])
        XCTAssertEqual(try store.adaptation(name: "m", alias: "prod")?.updates, 7)
        XCTAssertEqual(try store.checkpoints(runID: run.id).map(\.id), ["ckpt_a"], "a snapshot is not the run's own checkpoint")
        XCTAssertEqual(try store.latestCheckpoint(runID: run.id)?.id, "ckpt_a", "nor what a resume starts from")
        XCTAssertEqual(try store.checkpoint(runID: run.id, id: "ckpt_s")?.size, 50, "but it can be read by id")
        XCTAssertEqual(try store.pruneCheckpoints(runID: run.id, keepLast: 1, keepBest: 0).map(\.id), [])
        // The alias moved meanwhile (a rollback through another node): the snapshot is refused whole.
        try store.setModelAlias(name: "m", alias: "prod", version: 1)
        XCTAssertThrowsError(try store.recordAdaptedVersion(name: "m", alias: "prod", generation: started.generation, parent: 2,
                                                            checkpoint: CheckpointRecord(id: "ckpt_t", runID: run.id, step: 10, file: "ft", size: 1, sha256: "u", createdAt: 0),
                                                            updates: 9, data: "{}")) { guard case StoreError.conflict = $0 else { return XCTFail("\($0)") } }
        XCTAssertNil(try store.checkpoint(runID: run.id, id: "ckpt_t"))
        XCTAssertEqual(try store.modelVersions(name: "m").count, 2)
        XCTAssertThrowsError(try store.deleteModelVersion(name: "m", version: 1)) { guard case StoreError.conflict = $0 else { return XCTFail("\($0)") } }
        XCTAssertThrowsError(try store.stopAdaptation(name: "m", alias: "prod", generation: "another start", data: "{}"),
                             "a stop aimed at another start of the adaptation leaves this one alone")
        XCTAssertNotNil(try store.adaptation(name: "m", alias: "prod"))
        try store.freezeAdaptation(name: "m", alias: "prod", generation: started.generation, reason: "canary", version: 1, data: #"{"canary_accuracy":0.5}"#)
        XCTAssertEqual(try store.adaptation(name: "m", alias: "prod")?.state, "frozen")
        XCTAssertThrowsError(try store.recordAdaptedVersion(name: "m", alias: "prod", generation: started.generation, parent: 1, checkpoint: snapshot,
                                                            updates: 9, data: "{}"))
        // Retention of adapted versions keeps the newest and any an alias points at.
        try store.setModelAlias(name: "m", alias: "old", version: 2)
        XCTAssertEqual(try store.pruneAdaptedVersions(name: "m", keep: 0).map(\.id), [], "version 2 is aliased")
        try store.deleteModelAlias(name: "m", alias: "old")
        XCTAssertEqual(try store.pruneAdaptedVersions(name: "m", keep: 1).map(\.id), [], "the newest is kept")
        XCTAssertEqual(try store.pruneAdaptedVersions(name: "m", keep: 0).map(\.id), ["ckpt_s"])
        XCTAssertNil(try store.checkpoint(runID: run.id, id: "ckpt_s"), "with its checkpoint row")
        XCTAssertEqual(try store.modelVersions(name: "m").map(\.version), [1])
        try store.deleteModelAlias(name: "m", alias: "prod")
        XCTAssertNil(try store.adaptation(name: "m", alias: "prod"))
        XCTAssertEqual(try store.modelEvents(name: "m").map(\.kind), ["started", "snapshot", "alias_moved", "frozen", "stopped"])
        XCTAssertEqual(try store.modelEvents(name: "m", after: try store.modelEvents(name: "m")[2].seq).count, 2)
    }

    /// One process's workers share an owner name: the attempt alone tells a stale worker from
    /// the one that holds the run now, for heartbeats, requeues, retries and the end.
    func checkAStaleAttemptOfTheSameOwnerIsFenced() throws {
        let store = try makeStore()
        let (exp, _) = try store.createExperiment(name: "e", description: "")
        let (run, _) = try store.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 10, progressUnit: "steps")
        XCTAssertEqual(try store.leaseNextRun(owner: "n/w", leaseSeconds: 30)?.attempt, 1)
        XCTAssertEqual(try store.recoverOrphanedRuns(nodePrefix: "n/"), 1)
        XCTAssertEqual(try store.leaseNextRun(owner: "n/w", leaseSeconds: 30)?.attempt, 2)
        XCTAssertThrowsError(try store.heartbeat(runID: run.id, owner: "n/w", attempt: 1, leaseSeconds: 30, completed: 9, total: 10)) {
            guard case StoreError.fenced = $0 else { return XCTFail("\($0)") }
        }
        try store.retryRun(runID: run.id, owner: "n/w", attempt: 1, reason: "stale", delay: 0)
        try store.requeueRun(runID: run.id, owner: "n/w", attempt: 1, reason: "stale")
        try store.finishRun(runID: run.id, owner: "n/w", attempt: 1, state: .failed, reason: "stale")
        var now = try XCTUnwrap(try store.run(id: run.id))
        XCTAssertEqual([now.state.rawValue, String(now.attempt), String(now.failures), String(now.progressCompleted)], ["running", "2", "1", "0"],
                       "the stale attempt changed nothing (one failure: the recovery)")
        XCTAssertFalse(try store.heartbeat(runID: run.id, owner: "n/w", attempt: 2, leaseSeconds: 30, completed: 5, total: 10))
        try store.finishRun(runID: run.id, owner: "n/w", attempt: 2, state: .succeeded, completed: 10)
        now = try XCTUnwrap(try store.run(id: run.id))
        XCTAssertEqual(now.state, .succeeded)
    }

    func checkRunLifecycleLeaseAndRecovery() throws {
        let store = try makeStore()
        let (exp, created) = try store.createExperiment(name: "e", description: "")
        XCTAssertTrue(created)
        let (run, _) = try store.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 10, progressUnit: "steps")
        XCTAssertEqual(run.state, .queued)
        XCTAssertEqual(run.attempt, 0)
        let leased = try XCTUnwrap(try store.leaseNextRun(owner: "nodeA/1", leaseSeconds: 30))
        XCTAssertEqual(leased.state, .running)
        XCTAssertEqual(leased.attempt, 1)
        XCTAssertNil(try store.leaseNextRun(owner: "nodeA/1", leaseSeconds: 30))
        XCTAssertFalse(try store.heartbeat(runID: run.id, owner: "nodeA/1", leaseSeconds: 30, completed: 4, total: 10))
        XCTAssertEqual(try store.run(id: run.id)?.progressCompleted, 4)
        // Another node starting leaves a live lease alone (lease-based recovery) …
        XCTAssertEqual(try store.recoverOrphanedRuns(nodePrefix: "nodeB/"), 0)
        XCTAssertEqual(try store.run(id: run.id)?.state, .running)
        // … and a later process of node A takes back what its earlier one held.
        XCTAssertEqual(try store.recoverOrphanedRuns(nodePrefix: "nodeA/"), 1)
        XCTAssertEqual(try store.run(id: run.id)?.state, .queued)
        let again = try XCTUnwrap(try store.leaseNextRun(owner: "nodeA/2", leaseSeconds: 30))
        XCTAssertEqual(again.attempt, 2)
        // The first attempt is fenced: its heartbeat, metrics and checkpoints are refused, its finish ignored.
        let stale = Lease(runID: run.id, owner: "nodeA/1", attempt: 1)
        XCTAssertThrowsError(try store.heartbeat(runID: run.id, owner: "nodeA/1", leaseSeconds: 30, completed: 5, total: 10)) {
            guard case StoreError.fenced = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try store.appendMetrics(runID: run.id, [MetricPoint(key: "k", step: 1, value: 1, time: 0)], lease: stale))
        XCTAssertThrowsError(try store.deleteMetrics(runID: run.id, afterStep: 0, lease: stale))
        XCTAssertThrowsError(try store.appendMetrics(runID: run.id, [MetricPoint(key: "k", step: 1, value: 1, time: 0)],
                                                     lease: Lease(runID: run.id, owner: "nodeA/2", attempt: 1)), "the attempt is the token")
        try store.appendMetrics(runID: run.id, [MetricPoint(key: "k", step: 1, value: 2, time: 0)], lease: Lease(runID: run.id, owner: "nodeA/2", attempt: 2))
        XCTAssertEqual(try store.metricSeries(runID: run.id, key: "k", afterStep: nil, limit: 10).0.map(\.value), [2])
        try store.finishRun(runID: run.id, owner: "nodeA/1", state: .succeeded)
        XCTAssertEqual(try store.run(id: run.id)?.state, .running)
        try store.finishRun(runID: run.id, owner: "nodeA/2", state: .succeeded, completed: 10)
        XCTAssertEqual(try store.run(id: run.id)?.state, .succeeded)
        XCTAssertThrowsError(try store.requestCancel(runID: run.id)) { XCTAssertEqual($0 as? StoreError, .invalidState(.succeeded)) }
        XCTAssertEqual(try store.integrityCheck(), "ok")
    }

    func checkCancelQueuedAndRunning() throws {
        let store = try makeStore()
        let (exp, _) = try store.createExperiment(name: "e", description: "")
        let (a, _) = try store.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 1, progressUnit: "steps")
        let (b, _) = try store.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 1, progressUnit: "steps")
        _ = try store.leaseNextRun(owner: "W", leaseSeconds: 30)
        XCTAssertEqual(try store.requestCancel(runID: b.id).state, .canceled)
        let running = try store.requestCancel(runID: a.id)
        XCTAssertEqual(running.state, .running)
        XCTAssertTrue(running.cancelRequested)
        XCTAssertTrue(try store.heartbeat(runID: a.id, owner: "W", leaseSeconds: 30, completed: 0, total: 1))
        XCTAssertThrowsError(try store.requestCancel(runID: "run_nope"))
    }

    func checkMetricsAreReplacedNotDuplicatedAndPage() throws {
        let store = try makeStore()
        let (exp, _) = try store.createExperiment(name: "e", description: "")
        let (run, _) = try store.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 1, progressUnit: "steps")
        try store.appendMetrics(runID: run.id, (1...10).map { MetricPoint(key: "loss", step: $0, value: Double($0), time: 0) })
        try store.deleteMetrics(runID: run.id, afterStep: 6)
        try store.appendMetrics(runID: run.id, (5...8).map { MetricPoint(key: "loss", step: $0, value: -Double($0), time: 0) })
        let (all, more) = try store.metricSeries(runID: run.id, key: "loss", afterStep: nil, limit: 100)
        XCTAssertFalse(more)
        XCTAssertEqual(all.map(\.step), Array(1...8))
        XCTAssertEqual(all[4].value, -5)
        let (page, hasMore) = try store.metricSeries(runID: run.id, key: "loss", afterStep: 3, limit: 2)
        XCTAssertEqual(page.map(\.step), [4, 5])
        XCTAssertTrue(hasMore)
        XCTAssertEqual(try store.metricKeys(runID: run.id), [MetricKeySummary(key: "loss", count: 8, lastStep: 8, lastValue: -8)])
    }

    func checkIdempotencyKeys() throws {
        let store = try makeStore()
        let (a, c1) = try store.createExperiment(name: "e", description: "", idempotencyKey: "k", requestHash: "1")
        let (b, c2) = try store.createExperiment(name: "e", description: "", idempotencyKey: "k", requestHash: "1")
        XCTAssertTrue(c1)
        XCTAssertFalse(c2)
        XCTAssertEqual(a.id, b.id)
        XCTAssertThrowsError(try store.createExperiment(name: "f", description: "", idempotencyKey: "k", requestHash: "2")) {
            XCTAssertEqual($0 as? StoreError, .idempotencyMismatch)
        }
        XCTAssertEqual(try store.listExperiments(after: nil, limit: 10).items.count, 1)
    }

    func checkSQLIsNeverBuiltFromInput() throws {
        let store = try makeStore()
        let hostile = "x'); DROP TABLE runs; --"
        let (exp, _) = try store.createExperiment(name: hostile, description: hostile)
        XCTAssertEqual(try store.experiment(id: exp.id)?.name, hostile)
        XCTAssertNil(try store.run(id: hostile))
        XCTAssertEqual(try store.countRuns(state: .queued), 0)
    }

    /// The fair queue: a study and an experiment's single runs take turns; a yoked control waits
    /// for its source run and fails with it.
    func checkStudiesAndSingleRunsTakeTurnsAndControlsWaitForTheirSource() throws {
        let store = try makeStore()
        let (exp, _) = try store.createExperiment(name: "fair", description: "")
        for _ in 0..<6 {
            _ = try store.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 1, progressUnit: "steps")
        }
        let plans = (0..<3).map { StudyRunPlan(cell: 0, seed: $0, spec: "{}", specHash: "s", progressTotal: 1, progressUnit: "steps") }
            + [StudyRunPlan(cell: 1, seed: 0, spec: "{}", specHash: "y", progressTotal: 1, progressUnit: "steps", after: 0)]
        let (study, _) = try store.createStudy(experimentID: exp.id, name: "s", design: "{}", cells: "[]", metrics: "[]", controlCell: 0, runs: plans)
        var order: [String] = []
        while let run = try store.leaseNextRun(owner: "w", leaseSeconds: 60) {
            order.append(run.studyID == nil ? "single" : (run.afterRun == nil ? "study" : "control"))
            // The study's first run fails: its yoked control must not start, and fails with it.
            let fail = run.studyID != nil && run.studySeed == 0 && run.afterRun == nil
            try store.finishRun(runID: run.id, owner: "w", state: fail ? .failed : .succeeded)
        }
        XCTAssertEqual(Array(order.prefix(6)), ["single", "study", "single", "study", "single", "study"], "turns: \(order)")
        XCTAssertFalse(order.contains("control"))
        let control = try XCTUnwrap(try store.studyRuns(studyID: study.id).first { $0.afterRun != nil })
        XCTAssertEqual(control.state, .failed)
        XCTAssertTrue(control.failureReason?.contains("ended failed") ?? false, control.failureReason ?? "")
    }
}

func jsonObject(_ text: String) throws -> [String: Any] {
    try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
}
