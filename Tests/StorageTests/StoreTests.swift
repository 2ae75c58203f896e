import XCTest
@testable import Storage

final class StoreTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nm-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    static var migrationsURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("migrations")
    }

    func makeStore() throws -> Store {
        try Store(path: dir.appendingPathComponent("db.sqlite").path, migrations: try Migrator(directory: Self.migrationsURL))
    }

    func testMigrationsAreTrackedAndANewerDatabaseIsRefused() throws {
        let migrator = try Migrator(directory: Self.migrationsURL)
        let pool = try DatabasePool(path: dir.appendingPathComponent("m.sqlite").path, readers: 1)
        XCTAssertEqual(try migrator.migrate(pool), Array(1...migrator.latestVersion))
        XCTAssertEqual(try migrator.migrate(pool), [])
        let version = try pool.withWriter { try $0.execute("PRAGMA user_version")[0].int(0) }
        XCTAssertEqual(version, migrator.latestVersion)
        XCTAssertEqual(try pool.withWriter { try $0.execute("PRAGMA journal_mode")[0].string(0) }, "wal")
        try pool.withWriter { _ = try $0.execute("PRAGMA user_version = 999") }
        XCTAssertThrowsError(try migrator.migrate(pool)) { XCTAssertTrue("\($0)".contains("newer")) }
    }

    /// Migration 8 rebuilds run_events to admit `progress` events: a version-7 database keeps
    /// its events and their ids, new ids continue after them, and a running run's heartbeat
    /// progress becomes an event (a state change does not make a second one).
    func testProgressEventsAfterUpgradingAVersion7Database() throws {
        let seven = dir.appendingPathComponent("migrations-7")
        try FileManager.default.createDirectory(at: seven, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.migrationsURL.path)
        where name.hasSuffix(".sql") && Int(name.prefix(4))! <= 7 {
            try FileManager.default.copyItem(at: Self.migrationsURL.appendingPathComponent(name), to: seven.appendingPathComponent(name))
        }
        let path = dir.appendingPathComponent("upgrade.sqlite").path
        var before: [RunEvent] = []
        do {
            let old = try Store(path: path, migrations: try Migrator(directory: seven))
            let (exp, _) = try old.createExperiment(name: "e", description: "")
            _ = try old.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 10, progressUnit: "steps",
                                  idempotencyKey: nil, requestHash: "")
            _ = try old.leaseNextRun(owner: "w", leaseSeconds: 30)
            before = try old.runEvents(after: 0)
            XCTAssertEqual(before.map(\.kind), ["state", "state"])
        }
        let store = try Store(path: path, migrations: try Migrator(directory: Self.migrationsURL))
        XCTAssertEqual(try store.runEvents(after: 0), before, "events and ids kept")
        let run = try XCTUnwrap(before.first?.runID)
        try store.heartbeat(runID: run, owner: "w", leaseSeconds: 30, completed: 4, total: 10)
        try store.heartbeat(runID: run, owner: "w", leaseSeconds: 30, completed: 4, total: 10)
        try store.finishRun(runID: run, owner: "w", state: .succeeded, completed: 10)
        let after = try store.runEvents(after: before.last!.seq)
        XCTAssertEqual(after.map(\.kind), ["progress", "state"], "one progress event per change; the end is a state event")
        XCTAssertGreaterThan(after[0].seq, before.last!.seq, "ids continue")
        XCTAssertEqual(after[0].data, #"{"completed":4,"total":10}"#)
        XCTAssertTrue(after[1].data.contains(#""completed":10"#), after[1].data)
    }

    func testRunLifecycleLeaseAndRecovery() throws {
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

    func testCancelQueuedAndRunning() throws {
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

    func testMetricsAreReplacedNotDuplicatedAndPage() throws {
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

    func testIdempotencyKeys() throws {
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

    func testSQLIsNeverBuiltFromInput() throws {
        let store = try makeStore()
        let hostile = "x'); DROP TABLE runs; --"
        let (exp, _) = try store.createExperiment(name: hostile, description: hostile)
        XCTAssertEqual(try store.experiment(id: exp.id)?.name, hostile)
        XCTAssertNil(try store.run(id: hostile))
        XCTAssertEqual(try store.countRuns(state: .queued), 0)
    }

    /// The fair queue: a study and an experiment's single runs take turns; a yoked control waits
    /// for its source run and fails with it.
    func testStudiesAndSingleRunsTakeTurnsAndControlsWaitForTheirSource() throws {
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
