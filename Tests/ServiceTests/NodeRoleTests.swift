import Foundation
import XCTest
import Storage
import ObjectStore
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Several nodes share the queue through leases: an API node and two worker nodes — on one data
/// folder (SQLite in WAL mode), or each with its own folder on PostgreSQL with checkpoints in an
/// S3 object store (SeaweedFS), as on separate machines. Every run trains exactly once; a worker
/// paused past its lease loses the run to the other, and when it wakes it writes nothing (its
/// attempt is fenced); a worker killed mid-run is resumed elsewhere from its last checkpoint.
final class NodeRoleTests: XCTestCase {
    func log(_ p: ServiceProcess) -> String { (try? String(contentsOf: p.logURL, encoding: .utf8)) ?? "" }

    func testAnAPINodeAndTwoWorkersShareTheQueueAndFenceAPausedWorker() throws {
        let dir = try Paths.temporaryDirectory("nodes")
        defer { try? FileManager.default.removeItem(at: dir) }
        try exerciseNodes(makeNode: { role, extra in try ServiceProcess(dataDir: dir, extraArguments: ["--role", role] + extra) })
    }

    /// The same on PostgreSQL and S3: nothing shared but the database and the bucket.
    func testNodesOnPostgreSQLAndAnObjectStore() throws {
        let postgres = try PostgresServer()
        let s3 = try SeaweedServer()
        let root = try Paths.temporaryDirectory("pg-nodes")
        defer { try? FileManager.default.removeItem(at: root) }
        let env = ["NEUROMOD_DATABASE_URL": postgres.url, "NEUROMOD_OBJECT_STORE": "s3://neuromod-test/lab",
                   "NEUROMOD_S3_ENDPOINT": s3.endpoint, "AWS_ACCESS_KEY_ID": SeaweedServer.accessKey,
                   "AWS_SECRET_ACCESS_KEY": SeaweedServer.secretKey, "NEUROMOD_OBJECT_STORE_TIMEOUT": "3"]
        let client = try S3Client(endpoint: s3.endpoint, bucket: "neuromod-test", region: "us-east-1",
                                  credentials: .init(accessKey: SeaweedServer.accessKey, secretKey: SeaweedServer.secretKey))
        try DatasetTests.python("""
            r = np.random.default_rng(0); centers = r.normal(0, 1, (3, 20)).astype(np.float32)
            def split(n, seed):
                q = np.random.default_rng(seed); y = q.integers(0, 3, n)
                return (centers[y] * 3 + q.normal(0, 1, (n, 20))).astype(np.float32), y.astype(np.int64)
            xtr, ytr = split(600, 1); xte, yte = split(200, 2)
            np.savez(os.path.join(d, 'blobs.npz'), x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
            """, in: root)
        var count = 0
        try exerciseNodes(makeNode: { role, extra in
            count += 1
            let own = root.appendingPathComponent("node\(count)")   // a machine's own disk
            try FileManager.default.createDirectory(at: own, withIntermediateDirectories: true)
            return try ServiceProcess(dataDir: own, extraArguments: ["--role", role] + extra, environment: env)
        }, finally: { c in
            // A data set uploaded through the API node is trained on by a worker node, which has
            // it from the object store only.
            let up = try DatasetTests.upload(c, root.appendingPathComponent("blobs.npz"))
            XCTAssertEqual(up.status, 201, up.text)
            let id = try XCTUnwrap(up["id"]?.string)
            XCTAssertNotNil(try client.size("lab/datasets/\(id).npz"))
            let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "shared data"}"#)["id"]?.string)
            let run = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"data": {"dataset": "\#(id)"}, "model": {"layers": [20, 32, 3]}, "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 32}, "protocol": {"epochs": 3}}"#)["id"]?.string)
            let done = try c.waitForRunEnd(run, timeout: 120)
            XCTAssertEqual(done["state"]?.string, "succeeded", done.text)
            XCTAssertGreaterThan(try c.json("GET", "/v1/runs/\(run)/summary")["summary", "test_accuracy"]?.number ?? 0, 0.9)
            XCTAssertEqual(try c.json("DELETE", "/v1/datasets/\(id)").status, 204)
            XCTAssertNil(try client.size("lab/datasets/\(id).npz"), "deleted from the object store too")
        })
        // The checkpoints are objects in the bucket, under the prefix.
        XCTAssertFalse(try client.list(prefix: "lab/checkpoints/").isEmpty)
        XCTAssertTrue(FileManager.default.enumerator(atPath: root.path)?.allObjects.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".safetensors") }.isEmpty ?? true, "no checkpoint on a node's own disk")
    }

    /// `makeNode(role, extra arguments)` starts one node; `finally` runs with the API node's
    /// client before the nodes stop.
    func exerciseNodes(makeNode: (String, [String]) throws -> ServiceProcess,
                       finally: (TestHTTPClient) throws -> Void = { _ in }) throws {
        let api = try makeNode("api", [])
        defer { api.kill(SIGTERM); _ = api.waitForExit(timeout: 10) }
        let workers = try ["w1", "w2"].map { try makeNode("worker", ["--node-id", $0, "--lease-seconds", "2"]) }
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
        try finally(c)
    }
}
