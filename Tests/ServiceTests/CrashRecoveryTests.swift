import XCTest
import Support
import Engine
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// Kills and stops the real binary while it trains, then checks that nothing is lost or doubled.
final class CrashRecoveryTests: XCTestCase {
    var dataDir: URL!

    override func setUpWithError() throws { dataDir = try Paths.temporaryDirectory("crash") }
    override func tearDown() { try? FileManager.default.removeItem(at: dataDir) }

    func series(_ c: APIClient, _ run: String, _ key: String) throws -> [(Int, Double)] {
        let r = try c.json("GET", "/v1/runs/\(run)/metrics/\(key)?limit=10000")
        return (r["points"]?.array ?? []).compactMap {
            guard case .object(let o) = $0, let s = o["step"]?.int, let v = o["value"]?.number else { return nil }
            return (s, v)
        }
    }

    func checkpointSteps(_ c: APIClient, _ run: String) throws -> [Int] {
        (try c.json("GET", "/v1/runs/\(run)/checkpoints")["checkpoints"]?.array ?? []).compactMap {
            if case .object(let o) = $0 { return o["step"]?.int } else { return nil }
        }
    }

    /// A run interrupted by a crash whose newest checkpoint is of an earlier format (here one
    /// rewritten as `neuromod.mlp/1`, as an older build wrote them) is not silently retrained from
    /// an older state: after the restart it fails with a reason naming the format and version.
    func testACheckpointOfAnEarlierFormatFailsTheRunNamingTheFormat() throws {
        let spec = Specs.mlp(trainLimit: 12000, testLimit: 500, epochs: 8, hidden: 32, checkpointEvery: 40)
        var server: ServiceProcess? = try ServiceProcess(dataDir: dataDir)
        var c: APIClient = try server!.client()
        let runID = try c.submitRun(spec)
        _ = try eventually(timeout: 120, interval: 0.02, "a checkpoint") { () -> Int? in try checkpointSteps(c, runID).last }
        server!.kill(SIGKILL)
        _ = server!.waitForExit(timeout: 10)
        server = nil

        let db = try Database(path: dataDir.appendingPathComponent("neuromod.sqlite").path)
        let newest = try XCTUnwrap(try db.execute("SELECT id, file FROM checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT 1", runID).first)
        let url = dataDir.appendingPathComponent("checkpoints").appendingPathComponent(newest.string(1))
        var file = try Safetensors.decode(try Data(contentsOf: url))
        file.metadata = file.metadata.filter { !$0.key.hasPrefix("state.") && $0.key != "format_version" && $0.key != "family" }
        file.metadata["format"] = "neuromod.mlp/1"
        let old = Safetensors.encode(file)
        try old.write(to: url)
        _ = try db.execute("UPDATE checkpoints SET size = ?, sha256 = ? WHERE id = ?", old.count, SHA256.hex(old), newest.string(0))

        let second = try ServiceProcess(dataDir: dataDir)
        c = try second.client()
        let done = try c.waitForRunEnd(runID)
        XCTAssertEqual(done["state"]?.string, "failed", done.text)
        let reason = done["failure_reason"]?.string ?? ""
        XCTAssertTrue(reason.contains("format neuromod.mlp version 1") && reason.contains(newest.string(0)), reason)
        XCTAssertEqual(try c.json("GET", "/v1/readyz").status, 200, "the server itself is fine")
    }

    /// A study's aggregates come from stored results: a SIGKILL mid-study loses nothing, and the
    /// restarted server finishes it with every cell × seed in the table.
    func testSIGKILLMidStudyLosesNothing() throws {
        var server: ServiceProcess? = try ServiceProcess(dataDir: dataDir)
        var c: APIClient = try server!.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "study-crash"}"#)["id"]?.string)
        let body = #"{"base": {"data": {"train_limit": 2000, "test_limit": 200}, "model": {"layers": [784, 16, 10]}, "protocol": {"epochs": 2}, "checkpoint_every_steps": 10}, "seeds": 4, "factors": [{"path": "optimizer.learning_rate", "values": [0.05, 0.1]}]}"#
        let created = try c.json("POST", "/v1/experiments/\(exp)/studies", body)
        XCTAssertEqual(created.status, 202, created.text)
        let id = try XCTUnwrap(created["id"]?.string)
        _ = try eventually(timeout: 120, interval: 0.02, "some runs done") { () -> Int? in
            let n = try c.json("GET", "/v1/studies/\(id)")["runs", "succeeded"]?.int ?? 0
            return n >= 2 ? n : nil
        }
        server!.kill(SIGKILL)
        _ = server!.waitForExit(timeout: 10)
        server = nil
        let second = try ServiceProcess(dataDir: dataDir)
        c = try second.client()
        let done = try eventually(timeout: 180, "the study to end") { () -> TestResponse? in
            let r = try c.json("GET", "/v1/studies/\(id)")
            return ["succeeded", "failed", "canceled"].contains(r["state"]?.string ?? "") ? r : nil
        }
        XCTAssertEqual(done["state"]?.string, "succeeded", done.text)
        XCTAssertEqual(done["runs", "succeeded"]?.int, 8)
        let rows = try XCTUnwrap(done["table", "0", "cells"]?.array)
        XCTAssertEqual(rows.map { $0["n"]?.int }, [4, 4], "every cell × seed is in the table")
        XCTAssertEqual(rows[1]["vs_control"]?["n"]?.int, 4)
    }

    func testSIGKILLWhileTrainingResumesFromTheLastCheckpointWithoutLosingOrDoublingMetrics() throws {
        let spec = Specs.mlp(trainLimit: 12000, testLimit: 1000, epochs: 8, hidden: 64, checkpointEvery: 40, metricsEvery: 5)
        var server: ServiceProcess? = try ServiceProcess(dataDir: dataDir)
        var c = try server!.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name":"crash"}"#)["id"]?.string)
        let runID = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", spec)["id"]?.string)

        // Kill -9 mid-run, a little after a checkpoint landed (so some steps are lost and redone).
        let total = 8 * 188
        let killedAt = try eventually(timeout: 120, interval: 0.02, "a few checkpoints") { () -> Int? in
            let steps = try checkpointSteps(c, runID)
            return steps.count >= 3 ? steps.last : nil
        }
        Thread.sleep(forTimeInterval: 0.1)
        server!.kill(SIGKILL)
        _ = server!.waitForExit(timeout: 10)
        server = nil
        XCTAssertLessThan(killedAt, total - 200, "killed well before the end")

        // Restart on the same data folder: the run is requeued, resumes, finishes.
        let second = try ServiceProcess(dataDir: dataDir)
        c = try second.client()
        let done = try eventually(timeout: 120, "the resumed run to end") { () -> TestResponse? in
            let r = try c.json("GET", "/v1/runs/\(runID)")
            return ["succeeded", "failed"].contains(r["state"]?.string ?? "") ? r : nil
        }
        XCTAssertEqual(done["state"]?.string, "succeeded", done.text)
        XCTAssertEqual(done["attempt"]?.int, 2, "the attempt count rose")
        XCTAssertEqual(done["progress", "completed"]?.int, total)

        // Every metric point exists exactly once.
        let loss = try series(c, runID, "train.loss")
        XCTAssertEqual(loss.map(\.0), Array(stride(from: 5, through: total, by: 5)) + (total % 5 == 0 ? [] : [total]))
        XCTAssertEqual(try series(c, runID, "test.accuracy").map(\.0), Array(stride(from: 188, through: total, by: 188)))

        // And the values equal those of an uninterrupted run with the same seed.
        let ref = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", spec)["id"]?.string)
        _ = try eventually(timeout: 120, "the reference run") { () -> Bool? in
            try c.json("GET", "/v1/runs/\(ref)")["state"]?.string == "succeeded" ? true : nil
        }
        for key in ["train.loss", "train.accuracy", "test.accuracy", "test.loss", "epoch.train_loss"] {
            let a = try series(c, runID, key), b = try series(c, ref, key)
            XCTAssertEqual(a.map(\.0), b.map(\.0), key)
            XCTAssertEqual(a.map(\.1), b.map(\.1), "\(key) values match the uninterrupted run exactly")
        }
        second.kill(SIGTERM)
        XCTAssertEqual(second.waitForExit(timeout: 10)?.0, 0)
        let db = try Database(path: dataDir.appendingPathComponent("neuromod.sqlite").path)
        XCTAssertEqual(try db.execute("PRAGMA integrity_check").first?.string(0), "ok")
        XCTAssertEqual(try db.execute("SELECT COUNT(*) FROM (SELECT run_id, key, step FROM metric_points GROUP BY 1, 2, 3 HAVING COUNT(*) > 1)")[0].int(0), 0)
    }

    func testSIGTERMDrainsCheckpointsTheRunningRunAndExitsZero() throws {
        let server = try ServiceProcess(dataDir: dataDir)
        let c = try server.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name":"term"}"#)["id"]?.string)
        let spec = Specs.mlp(trainLimit: 60000, epochs: 20, hidden: 64, checkpointEvery: 1_000_000, metricsEvery: 10)
        let runID = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", spec)["id"]?.string)
        _ = try eventually(timeout: 60, "training to start") { () -> Bool? in
            (try c.json("GET", "/v1/runs/\(runID)")["progress", "completed"]?.int ?? 0) > 20 ? true : nil
        }
        server.kill(SIGTERM)
        let exit = try XCTUnwrap(server.waitForExit(timeout: 10), "exits within 10 s")
        XCTAssertEqual(exit.0, 0)

        let store = try Store(path: dataDir.appendingPathComponent("neuromod.sqlite").path, migrations: try Migrator(directory: Paths.migrations))
        let run = try XCTUnwrap(try store.run(id: runID))
        XCTAssertEqual(run.state, .queued, "a drained run goes back to the queue")
        XCTAssertEqual(run.attempt, 1)
        let all = try store.checkpoints(runID: runID)
        let cps = try XCTUnwrap(all.last.map { [$0] }, "the shutdown wrote a checkpoint")
        XCTAssertEqual(all.dropLast().filter { $0.score == nil }.count, 0, "the others are epoch ends (938 steps each)")
        // A shutdown checkpoint mid-epoch has no score; one landing right after an epoch end is that checkpoint.
        XCTAssertEqual(cps[0].score == nil, cps[0].step % 938 != 0, "scored exactly at epoch ends (step \(cps[0].step))")
        XCTAssertGreaterThan(cps[0].step, 20)
        XCTAssertEqual(run.progressCompleted, cps[0].step)

        // It resumes from that step in the next process.
        let again = try ServiceProcess(dataDir: dataDir)
        let c2 = try again.client()
        let resumed = try eventually(timeout: 60, "the run to resume") { () -> TestResponse? in
            let r = try c2.json("GET", "/v1/runs/\(runID)")
            return r["state"]?.string == "running" && (r["progress", "completed"]?.int ?? 0) > cps[0].step ? r : nil
        }
        XCTAssertEqual(resumed["attempt"]?.int, 2)
        XCTAssertEqual(try c2.json("POST", "/v1/runs/\(runID)/cancel").status, 202)
        again.kill(SIGTERM)
        XCTAssertEqual(again.waitForExit(timeout: 10)?.0, 0)
    }
}
