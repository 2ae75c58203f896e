import XCTest
@testable import Storage

/// The store contract on SQLite, plus what only SQLite has (PRAGMA user_version, WAL).
final class StoreTests: XCTestCase, StoreContract {
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

    func testProgressEvents() throws { try checkProgressEvents() }
    func testCheckpointsModelsAndDatasets() throws { try checkCheckpointsModelsAndDatasets() }
    func testModelAdaptation() throws { try checkModelAdaptation() }
    func testRunLifecycleLeaseAndRecovery() throws { try checkRunLifecycleLeaseAndRecovery() }
    func testAStaleAttemptOfTheSameOwnerIsFenced() throws { try checkAStaleAttemptOfTheSameOwnerIsFenced() }
    func testCancelQueuedAndRunning() throws { try checkCancelQueuedAndRunning() }
    func testMetricsAreReplacedNotDuplicatedAndPage() throws { try checkMetricsAreReplacedNotDuplicatedAndPage() }
    func testIdempotencyKeys() throws { try checkIdempotencyKeys() }
    func testSQLIsNeverBuiltFromInput() throws { try checkSQLIsNeverBuiltFromInput() }
    func testStudiesAndSingleRunsTakeTurnsAndControlsWaitForTheirSource() throws { try checkStudiesAndSingleRunsTakeTurnsAndControlsWaitForTheirSource() }
}
