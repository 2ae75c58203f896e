import Foundation
import XCTest
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// Several processes on one data folder (SQLite in WAL mode): an API node and two worker nodes
/// share the queue through leases. Every run trains exactly once; a worker paused past its lease
/// loses the run to the other, and when it wakes it writes nothing (its attempt is fenced).
final class NodeRoleTests: XCTestCase {
    func log(_ p: ServiceProcess) -> String { (try? String(contentsOf: p.logURL, encoding: .utf8)) ?? "" }

    func testAnAPINodeAndTwoWorkersShareTheQueueAndFenceAPausedWorker() throws {
        let dir = try Paths.temporaryDirectory("nodes")
        defer { try? FileManager.default.removeItem(at: dir) }
        let api = try ServiceProcess(dataDir: dir, extraArguments: ["--role", "api"])
        defer { api.kill(SIGTERM); _ = api.waitForExit(timeout: 10) }
        let workers = try ["w1", "w2"].map { try ServiceProcess(dataDir: dir, extraArguments: ["--role", "worker", "--node-id", $0, "--lease-seconds", "2"]) }
        defer { for w in workers { w.kill(SIGCONT); w.kill(SIGTERM); _ = w.waitForExit(timeout: 10) } }
        let c = try api.client()
        // A worker node answers health, not the API.
        let wc = try workers[0].client()
        XCTAssertEqual(try wc.json("GET", "/v1/healthz").status, 200)
        XCTAssertEqual(try wc.json("GET", "/v1/runs").status, 404)
        XCTAssertEqual(try c.json("GET", "/v1/readyz").status, 200, "an API node with no workers is ready")

        // Twenty runs through the API node, trained by the workers: each once.
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "nodes"}"#)["id"]?.string)
        var runs: [String] = []
        for seed in 0..<20 {
            let r = try c.json("POST", "/v1/experiments/\(exp)/runs", Specs.mlp(trainLimit: 256, testLimit: 100, hidden: 8, seed: seed))
            runs.append(try XCTUnwrap(r["id"]?.string))
        }
        for run in runs {
            let end = try c.waitForRunEnd(run, timeout: 180)
            XCTAssertEqual(end["state"]?.string, "succeeded", end.text)
            XCTAssertEqual(end["attempt"]?.number, 1, "trained once: \(end.text)")
        }
        let trainedBy = workers.map { w in runs.filter { log(w).contains("run \($0) succeeded") }.count }
        XCTAssertEqual(trainedBy.reduce(0, +), 20, "each run ended by exactly one worker: \(trainedBy)")
        XCTAssertTrue(trainedBy.allSatisfy { $0 > 0 }, "both workers trained: \(trainedBy)")

        // A run long enough to pause its worker mid-way.
        let long = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs",
            Specs.mlp(trainLimit: 20000, testLimit: 200, epochs: 6, hidden: 64, seed: 99, checkpointEvery: 50))["id"]?.string)
        let holder = try eventually(timeout: 60, "a worker to start the long run") { () -> ServiceProcess? in
            workers.first { log($0).contains("run \(long)") } ?? nil
        }
        try eventually(timeout: 60, "a checkpoint of the long run") { () -> Bool? in
            (try c.json("GET", "/v1/runs/\(long)/checkpoints")["checkpoints"]?.array?.isEmpty ?? true) ? nil : true
        }
        holder.kill(SIGSTOP)
        let takenOver = try eventually(timeout: 60, "the other worker to take the run over") { () -> TestResponse? in
            let r = try c.json("GET", "/v1/runs/\(long)")
            return r["attempt"]?.number == 2 && r["state"]?.string == "running" ? r : nil
        }
        XCTAssertEqual(takenOver["attempt"]?.number, 2)
        holder.kill(SIGCONT)
        let end = try c.waitForRunEnd(long, timeout: 300)
        XCTAssertEqual(end["state"]?.string, "succeeded", end.text)
        XCTAssertEqual(end["attempt"]?.number, 2)
        try eventually(timeout: 30, "the woken worker to notice it lost the lease") { () -> Bool? in
            log(holder).contains("writes nothing more") ? true : nil
        }
        XCTAssertFalse(log(holder).contains("run \(long) succeeded"), "the fenced worker did not finish the run")
        // Its points are the new attempt's: one per step, the series complete.
        let points = try c.json("GET", "/v1/runs/\(long)/metrics/train.loss?limit=10000")["points"]?.array ?? []
        let steps = points.compactMap { $0["step"]?.number }
        XCTAssertEqual(steps, steps.sorted())
        XCTAssertEqual(Set(steps).count, steps.count)
        XCTAssertEqual(steps.last, end["progress", "total"]?.number)

        // SIGKILL a worker mid-run: the other resumes it from its last checkpoint, and the run
        // ends exactly as an uninterrupted twin (same spec and seed) does.
        let spec = Specs.mlp(trainLimit: 12000, testLimit: 500, epochs: 4, hidden: 32, seed: 7, checkpointEvery: 40)
        let killedRun = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", spec)["id"]?.string)
        let victim = try eventually(timeout: 60, "a worker to start the run to kill") { () -> ServiceProcess? in
            workers.first { log($0).contains("run \(killedRun)") } ?? nil
        }
        try eventually(timeout: 60, "a checkpoint of that run") { () -> Bool? in
            (try c.json("GET", "/v1/runs/\(killedRun)/checkpoints")["checkpoints"]?.array?.isEmpty ?? true) ? nil : true
        }
        victim.kill(SIGKILL)
        _ = victim.waitForExit(timeout: 10)
        let twin = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", spec)["id"]?.string)
        let resumed = try c.waitForRunEnd(killedRun, timeout: 300)
        XCTAssertEqual(resumed["state"]?.string, "succeeded", resumed.text)
        XCTAssertEqual(resumed["attempt"]?.number, 2)
        XCTAssertEqual(try c.waitForRunEnd(twin, timeout: 300)["state"]?.string, "succeeded")
        for key in ["train.loss", "test.accuracy"] {
            let a = try c.json("GET", "/v1/runs/\(killedRun)/metrics/\(key)?limit=10000")["points"]?.array?.compactMap { $0["value"]?.number }
            let b = try c.json("GET", "/v1/runs/\(twin)/metrics/\(key)?limit=10000")["points"]?.array?.compactMap { $0["value"]?.number }
            XCTAssertEqual(a, b, "\(key): the resumed run's series equals the uninterrupted twin's, bit for bit")
            XCTAssertFalse(a?.isEmpty ?? true)
        }
    }
}
