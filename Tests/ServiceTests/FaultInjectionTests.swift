import XCTest
import Engine
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// Repeated SIGKILLs of the real binary at random moments of training (so during steps, metric
/// flushes and checkpoint writes), and the online backup of a live database.
final class FaultInjectionTests: XCTestCase {
    var dataDir: URL!
    override func setUpWithError() throws { dataDir = try Paths.temporaryDirectory("fault") }
    override func tearDown() { try? FileManager.default.removeItem(at: dataDir) }

    func points(_ c: APIClient, _ run: String, _ key: String) throws -> [(Int, Double)] {
        (try c.json("GET", "/v1/runs/\(run)/metrics/\(key)?limit=10000")["points"]?.array ?? []).compactMap {
            guard let s = $0["step"]?.int, let v = $0["value"]?.number else { return nil }
            return (s, v)
        }
    }

    /// 20 kills -9, each at a random moment after the run made progress in that process. After
    /// every kill the database passes integrity_check; the run ends succeeded with every metric
    /// point exactly once and equal to an uninterrupted run's.
    func testTwentySIGKILLsAtRandomMomentsLoseAndDoubleNothing() throws {
        let kills = 20
        let spec = Specs.mlp(trainLimit: 12000, testLimit: 500, epochs: 6, hidden: 64, checkpointEvery: 7, metricsEvery: 3,
                             extra: #", "execution": {"max_attempts": 100, "retry_backoff_s": 0}"#)
        let dbPath = dataDir.appendingPathComponent("neuromod.sqlite").path
        var server = try ServiceProcess(dataDir: dataDir)
        var c = try server.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "faults"}"#)["id"]?.string)
        let run = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", spec)["id"]?.string)
        var rng = RandomSource(seed: 2026)
        var lastProgress = -1
        for k in 0..<kills {
            // Let this process train a little (past the step reached before), then kill at a random moment.
            let progress = try eventually(timeout: 60, interval: 0.01, "progress in process \(k)") { () -> Int? in
                let r = try c.json("GET", "/v1/runs/\(run)")
                XCTAssertNotEqual(r["state"]?.string, "succeeded", "kill \(k): the run must still have work left")
                let p = r["progress", "completed"]?.int ?? 0
                return r["state"]?.string == "running" && p > lastProgress ? p : nil
            }
            lastProgress = progress
            Thread.sleep(forTimeInterval: 0.05 + rng.uniform() * 0.25)
            server.kill(SIGKILL)
            _ = server.waitForExit(timeout: 10)
            let db = try Database(path: dbPath, readOnly: true)
            XCTAssertEqual(try db.execute("PRAGMA integrity_check").first?.string(0), "ok", "after kill \(k + 1)")
            server = try ServiceProcess(dataDir: dataDir)
            c = try server.client()
        }
        let done = try eventually(timeout: 240, "the run to finish") { () -> TestResponse? in
            let r = try c.json("GET", "/v1/runs/\(run)")
            return ["succeeded", "failed"].contains(r["state"]?.string ?? "") ? r : nil
        }
        XCTAssertEqual(done["state"]?.string, "succeeded", done.text)
        XCTAssertEqual(done["attempt"]?.int, kills + 1)
        XCTAssertEqual(done["failures"]?.int, kills, "every kill counted as an infrastructure failure")

        let reference = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", spec)["id"]?.string)
        _ = try eventually(timeout: 240, "the uninterrupted reference run") { () -> Bool? in
            try c.json("GET", "/v1/runs/\(reference)")["state"]?.string == "succeeded" ? true : nil
        }
        for key in ["train.loss", "train.accuracy", "test.accuracy", "test.loss", "epoch.train_loss"] {
            let a = try points(c, run, key), b = try points(c, reference, key)
            XCTAssertFalse(b.isEmpty, key)
            XCTAssertEqual(a.map(\.0), b.map(\.0), "\(key): no point missing or doubled")
            XCTAssertEqual(a.map(\.1), b.map(\.1), "\(key): the same values as without faults")
        }
        server.kill(SIGTERM)
        XCTAssertEqual(server.waitForExit(timeout: 10)?.0, 0)
        let db = try Database(path: dbPath, readOnly: true)
        XCTAssertEqual(try db.execute("PRAGMA integrity_check").first?.string(0), "ok")
    }

    /// `neuromod backup` while the server trains: a consistent, complete copy.
    func testOnlineBackupWhileTraining() throws {
        let server = try ServiceProcess(dataDir: dataDir)
        let c = try server.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "backup"}"#)["id"]?.string)
        let run = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs",
                                           Specs.mlp(trainLimit: 60000, epochs: 20, checkpointEvery: 20, metricsEvery: 2))["id"]?.string)
        _ = try eventually(timeout: 60, "training") { () -> Bool? in
            (try c.json("GET", "/v1/runs/\(run)")["progress", "completed"]?.int ?? 0) > 40 ? true : nil
        }
        let copy = dataDir.appendingPathComponent("copy.sqlite").path
        let p = Process()
        p.executableURL = ServiceProcess.binary
        p.arguments = ["backup", copy, "--data-dir", dataDir.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("integrity ok"), text)
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(run)")["state"]?.string, "running", "the server kept training")
        let db = try Database(path: copy, readOnly: true)
        XCTAssertEqual(try db.execute("PRAGMA integrity_check").first?.string(0), "ok")
        XCTAssertEqual(try db.execute("SELECT COUNT(*) FROM runs WHERE id = ?", run)[0].int(0), 1)
        XCTAssertGreaterThan(try db.execute("SELECT COUNT(*) FROM metric_points WHERE run_id = ?", run)[0].int(0), 10)
        XCTAssertEqual(try db.execute("PRAGMA user_version")[0].int(0), try Migrator(directory: Paths.migrations).latestVersion)
        XCTAssertFalse(FileManager.default.fileExists(atPath: copy + ".partial"))
        server.kill(SIGTERM)
        _ = server.waitForExit(timeout: 10)
    }
}

/// A full disk under the real binary: the data folder is a small tmpfs (needs root to mount).
final class DiskFullTests: XCTestCase {
    func testAFullDiskFailsWritesClearlyKeepsReadsAndRecovers() throws {
        let dir = try Paths.temporaryDirectory("full")
        defer { try? FileManager.default.removeItem(at: dir) }
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=24m", "tmpfs", dir.path]
        mount.standardError = FileHandle.nullDevice
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else { throw XCTSkip("mounting a small tmpfs needs root") }
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = ["-l", dir.path]
            try? umount.run()
            umount.waitUntilExit()
        }
        let server = try ServiceProcess(dataDir: dir)
        defer {
            if testRun?.hasSucceeded == false {
                print("server log:\n" + ((try? String(contentsOf: server.logURL, encoding: .utf8)) ?? "").suffix(2000))
            }
        }
        let c = try server.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "full"}"#)["id"]?.string)
        let run = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs",
            Specs.mlp(trainLimit: 6000, epochs: 8, hidden: 64, checkpointEvery: 5, metricsEvery: 5,
                      extra: #", "execution": {"max_attempts": 50, "retry_backoff_s": 0.2, "max_backoff_s": 1, "keep_last": 2}"#))["id"]?.string)
        _ = try eventually(timeout: 60, "training") { () -> Bool? in
            (try c.json("GET", "/v1/runs/\(run)")["progress", "completed"]?.int ?? 0) > 10 ? true : nil
        }

        // Fill the disk to the last byte, then keep taking every byte that is freed for 3 s (the
        // run's retention deletes old checkpoints) so the run's next checkpoint cannot be written.
        // POSIX calls: the descriptor must really be closed for the space to come back.
        let filler = dir.appendingPathComponent("filler")
        let fd = open(filler.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var block = [UInt8](repeating: 0, count: 64 << 10)
        func takeEverything() {
            var size = block.count
            while size >= 1 { if write(fd, &block, size) < size { size /= 2 } }
        }
        let until = Date().addingTimeInterval(3)
        while Date() < until { takeEverything(); usleep(2000) }

        // Writes fail with a clear status, reads keep answering.
        var refused: TestResponse?
        for _ in 0..<200 where refused == nil {
            takeEverything()
            let r = try server.client().json("POST", "/v1/experiments", #"{"name": "more"}"#)
            if r.status != 201 { refused = r }
        }
        XCTAssertEqual(refused?.status, 507, refused?.text ?? "no write was refused")
        XCTAssertEqual(refused?["error", "code"]?.string, "insufficient_storage")
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(run)").status, 200)
        XCTAssertEqual(try c.json("GET", "/v1/experiments").status, 200)
        XCTAssertEqual(try c.json("GET", "/v1/healthz").status, 200)
        close(fd)
        unlink(filler.path)

        // Space returns: the run resumes and finishes, writes succeed again.
        let done = try eventually(timeout: 180, "the run to finish after space returned") { () -> TestResponse? in
            let r = try c.json("GET", "/v1/runs/\(run)")
            return ["succeeded", "failed"].contains(r["state"]?.string ?? "") ? r : nil
        }
        XCTAssertEqual(done["state"]?.string, "succeeded", done.text)
        XCTAssertGreaterThanOrEqual(done["failures"]?.int ?? 0, 1, "the full disk interrupted it at least once: \(done.text.prefix(400))")
        XCTAssertEqual(try c.json("POST", "/v1/experiments", #"{"name": "again"}"#).status, 201)
        server.kill(SIGTERM)
        XCTAssertEqual(server.waitForExit(timeout: 10)?.0, 0)
        let db = try Database(path: dir.appendingPathComponent("neuromod.sqlite").path, readOnly: true)
        XCTAssertEqual(try db.execute("PRAGMA integrity_check").first?.string(0), "ok")
    }
}
