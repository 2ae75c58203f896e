import XCTest
@testable import Storage
import TestSupport

/// The store contract on a real PostgreSQL 15 (one server for the class, a fresh database per
/// test), plus what only a shared database has to get right: migrating once when nodes start
/// together, claiming runs with SKIP LOCKED from several pools at once, idempotency keys under
/// concurrent requests, event ids that become visible in order, LISTEN/NOTIFY, and a server
/// restart in the middle of the work.
final class PostgresStoreTests: XCTestCase, StoreContract {
    nonisolated(unsafe) static var server: PostgresServer?

    override class func tearDown() {
        server = nil
        super.tearDown()
    }

    static func sharedServer() throws -> PostgresServer {
        if let server { return server }
        let s = try PostgresServer()
        server = s
        return s
    }

    /// A URL of a new, empty database on the shared server.
    func freshDatabase() throws -> String {
        let server = try Self.sharedServer()
        let name = "nm_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try PostgresConnection(url: server.url).execute("CREATE DATABASE \(name)")
        return server.url.replacingOccurrences(of: "/postgres?", with: "/\(name)?")
    }

    var migrator: Migrator {
        get throws { try Migrator(root: StoreTests.migrationsURL, dialect: .postgres) }
    }

    func makeStore() throws -> Store {
        try Store(postgresURL: try freshDatabase(), migrations: try migrator)
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

    /// The PostgreSQL migrations produce the same tables and columns as SQLite's.
    func testSchemaMatchesSQLite() throws {
        let url = try freshDatabase()
        _ = try Store(postgresURL: url, migrations: try migrator)
        let pg = try PostgresConnection(url: url)
        var postgresColumns: [String: [String]] = [:]
        for row in try pg.execute("""
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name <> 'neuromod_schema' ORDER BY table_name, ordinal_position
            """) {
            postgresColumns[row.string(0), default: []].append(row.string(1))
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nm-schema-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let sqlite = try DatabasePool(path: dir.appendingPathComponent("s.sqlite").path, readers: 1)
        try Migrator(directory: StoreTests.migrationsURL).migrate(sqlite)
        var sqliteColumns: [String: [String]] = [:]
        try sqlite.withWriter { db in
            for table in try db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name") {
                let name = table.string(0)
                // table_xinfo lists generated columns too (dataset_id).
                sqliteColumns[name] = try db.execute("SELECT name FROM pragma_table_xinfo(?)", name).map { $0.string(0) }
            }
        }
        XCTAssertEqual(Set(postgresColumns.keys), Set(sqliteColumns.keys))
        for (table, columns) in sqliteColumns {
            XCTAssertEqual(Set(postgresColumns[table] ?? []), Set(columns), table)
        }
        XCTAssertEqual(try migrator.latestVersion, try Migrator(directory: StoreTests.migrationsURL).latestVersion)
    }

    /// Nodes starting together migrate once (advisory lock); a database newer than the code is refused.
    func testNodesStartingTogetherMigrateOnce() throws {
        let url = try freshDatabase()
        let migrator = try migrator
        let errors = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            do { _ = try Store(postgresURL: url, migrations: migrator, connections: 2) } catch { errors.mutate { $0.append("\(error)") } }
        }
        XCTAssertEqual(errors.value, [])
        let pg = try PostgresConnection(url: url)
        XCTAssertEqual(try pg.execute("SELECT version FROM neuromod_schema ORDER BY version").map { $0.int(0) }, Array(1...migrator.latestVersion))
        try pg.execute("INSERT INTO neuromod_schema(version, name) VALUES (999, 'future')")
        XCTAssertThrowsError(try Store(postgresURL: url, migrations: migrator)) { XCTAssertTrue("\($0)".contains("newer"), "\($0)") }
    }

    /// Three "nodes" (stores with their own pools), four claimers each, 40 queued runs: every
    /// run is leased exactly once, and an idempotency key used by 8 concurrent requests makes one run.
    func testConcurrentClaimsAndIdempotencyAcrossNodes() throws {
        let url = try freshDatabase()
        let nodes = try (0..<3).map { _ in try Store(postgresURL: url, migrations: try migrator, connections: 4) }
        let (exp, _) = try nodes[0].createExperiment(name: "e", description: "")
        for i in 0..<40 {
            _ = try nodes[i % 3].createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 1, progressUnit: "steps")
        }
        let leased = Locked<[String]>([])
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 12) { i in
            let store = nodes[i % 3]
            // Every claimer keeps claiming until all 40 are taken: they contend for the same rows.
            while leased.value.count < 40 {
                do {
                    guard let run = try store.leaseNextRun(owner: "node\(i % 3)/\(i)", leaseSeconds: 60) else { continue }
                    leased.mutate { $0.append(run.id) }
                    try store.finishRun(runID: run.id, owner: "node\(i % 3)/\(i)", attempt: run.attempt, state: .succeeded)
                } catch {
                    failures.mutate { $0.append("\(error)") }
                    return
                }
            }
        }
        XCTAssertEqual(failures.value, [])
        XCTAssertEqual(leased.value.count, 40, "none lost")
        XCTAssertEqual(Set(leased.value).count, 40, "none twice")
        XCTAssertEqual(try nodes[1].countRuns(state: .succeeded), 40)

        let created = Locked<[(String, Bool)]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            if let (run, isNew) = try? nodes[i % 3].createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 1,
                                                                progressUnit: "steps", idempotencyKey: "same", requestHash: "r") {
                created.mutate { $0.append((run.id, isNew)) }
            }
        }
        XCTAssertEqual(created.value.count, 8, "every request answered")
        XCTAssertEqual(Set(created.value.map(\.0)).count, 1, "one run for one key")
        XCTAssertEqual(created.value.filter(\.1).count, 1, "created once")
    }

    /// Writers on several connections commit events in id order: a reader that keeps reading
    /// "after the last id I saw" while they write misses nothing.
    func testEventIdsBecomeVisibleInOrder() throws {
        let url = try freshDatabase()
        let store = try Store(postgresURL: url, migrations: try migrator, connections: 6)
        let (exp, _) = try store.createExperiment(name: "e", description: "")
        let runs = try (0..<4).map { _ in try store.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 1, progressUnit: "steps").0.id }
        let seen = Locked<[Int]>([])
        let done = Locked(false)
        let reader = Thread {
            var last = 0
            while true {
                let finished = done.value
                if let events = try? store.runEvents(after: last) {
                    seen.mutate { $0 += events.map(\.seq) }
                    last = events.last?.seq ?? last
                }
                if finished { break }
            }
        }
        reader.start()
        DispatchQueue.concurrentPerform(iterations: 4) { w in
            for batch in 0..<25 {
                try? store.appendMetrics(runID: runs[w], (0..<8).map { MetricPoint(key: "k", step: batch * 8 + $0, value: 1, time: 0) })
            }
        }
        done.mutate { $0 = true }
        while reader.isExecuting || !reader.isFinished { Thread.sleep(forTimeInterval: 0.01) }
        let all = try store.runEvents(after: 0, limit: 100_000).map(\.seq)
        XCTAssertEqual(all.count, 4 + 4 * 25 * 8)
        let missed = Set(all).subtracting(seen.value).sorted()
        XCTAssertEqual(missed, [], "ids the incremental reader moved past before they were visible")
        XCTAssertEqual(seen.value, all, "the incremental reader saw every event once, in order")
    }

    /// LISTEN/NOTIFY: a run queued through one node wakes a listener of another at once.
    func testQueuedRunsNotifyOtherNodes() throws {
        let url = try freshDatabase()
        let api = try Store(postgresURL: url, migrations: try migrator, connections: 2)
        let worker = try Store(postgresURL: url, migrations: try migrator, connections: 2)
        let wakes = Locked(0)
        let stop = try XCTUnwrap(worker.listenForQueuedRuns { wakes.mutate { $0 += 1 } })
        defer { stop() }
        // The listener reports once when it starts (anything queued before must be looked at).
        try waitUntil(5) { wakes.value >= 1 }
        let before = wakes.value
        let (exp, _) = try api.createExperiment(name: "e", description: "")
        _ = try api.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 1, progressUnit: "steps")
        try waitUntil(2) { wakes.value > before }
    }

    /// The server restarts while a node writes: the write waits for it and succeeds, and the
    /// pool's stale connections are replaced.
    func testServerRestartMidWork() throws {
        let server = try PostgresServer()   // its own: this test stops it
        let store = try Store(postgresURL: server.url, migrations: try migrator, connections: 3)
        let (exp, _) = try store.createExperiment(name: "e", description: "")
        let (run, _) = try store.createRun(experimentID: exp.id, spec: "{}", specHash: "h", progressTotal: 1, progressUnit: "steps")
        try server.stop()
        let restarted = Thread { Thread.sleep(forTimeInterval: 1.5); try? server.start() }
        restarted.start()
        // Issued while the server is down: retried until it is back.
        try store.appendMetrics(runID: run.id, [MetricPoint(key: "k", step: 1, value: 1, time: 0)])
        for _ in 0..<6 { XCTAssertEqual(try store.run(id: run.id)?.state, .queued) }
        XCTAssertEqual(try store.metricSeries(runID: run.id, key: "k", afterStep: nil, limit: 10).points.count, 1)
    }
}

/// A value shared between test threads.
final class Locked<T>: @unchecked Sendable {
    private var stored: T
    private let lock = NSLock()
    init(_ value: T) { stored = value }
    var value: T { lock.lock(); defer { lock.unlock() }; return stored }
    func mutate(_ body: (inout T) -> Void) { lock.lock(); body(&stored); lock.unlock() }
}

func waitUntil(_ seconds: Double, _ condition: () -> Bool, file: StaticString = #filePath, line: UInt = #line) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline { XCTFail("not within \(seconds) s", file: file, line: line); return }
        Thread.sleep(forTimeInterval: 0.01)
    }
}
