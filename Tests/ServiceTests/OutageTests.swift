import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A node on PostgreSQL and S3 while its services fail under it, through the real binary:
/// PostgreSQL restarted in the middle of training (the node reconnects and continues), then the
/// object store frozen (checkpoint writes retried with backoff while reads of runs and metrics
/// keep answering). The run ends as an undisturbed twin does, point for point, and its
/// checkpoints download through the object store with byte ranges passed on.
final class OutageTests: XCTestCase {
    func testPostgreSQLRestartAndObjectStoreOutageMidTraining() throws {
        let postgres = try PostgresServer()
        let s3 = try SeaweedServer()
        let dir = try Paths.temporaryDirectory("outage")
        defer { try? FileManager.default.removeItem(at: dir) }
        let node = try ServiceProcess(dataDir: dir, extraArguments: ["--role", "all", "--lease-seconds", "20"], environment: [
            "NEUROMOD_DATABASE_URL": postgres.url, "NEUROMOD_OBJECT_STORE": "s3://neuromod-outage/x",
            "NEUROMOD_S3_ENDPOINT": s3.endpoint, "AWS_ACCESS_KEY_ID": SeaweedServer.accessKey,
            "AWS_SECRET_ACCESS_KEY": SeaweedServer.secretKey, "NEUROMOD_OBJECT_STORE_TIMEOUT": "2"])
        defer { s3.resume(); node.kill(SIGTERM); _ = node.waitForExit(timeout: 10) }
        let c = try node.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "outage"}"#)["id"]?.string)
        // Long enough (3,750 steps) to be training through both outages even on a fast machine.
        let spec = Specs.mlp(trainLimit: 12000, testLimit: 500, epochs: 20, hidden: 32, seed: 3, checkpointEvery: 60)
        let run = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", spec)["id"]?.string)
        func checkpoints() throws -> Int { try c.json("GET", "/v1/runs/\(run)/checkpoints")["checkpoints"]?.array?.count ?? 0 }
        try eventually(timeout: 60, "a first checkpoint") { () -> Bool? in try checkpoints() > 0 ? true : nil }

        // PostgreSQL goes away for two seconds and comes back.
        try postgres.stop()
        Thread.sleep(forTimeInterval: 2)
        try postgres.start()
        let before = try checkpoints()
        try eventually(timeout: 60, "a checkpoint after the restart") { () -> Bool? in try checkpoints() > before ? true : nil }

        // The object store freezes until a checkpoint write has been retried (at least 4 s):
        // meanwhile reads of stored state keep answering.
        func metric(_ name: String) throws -> Double {
            let page = String(decoding: try c.request("GET", "/metrics").body, as: UTF8.self)
            return page.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) } ?? -1
        }
        let retriesBefore = try metric("neuromod_object_store_retries_total")
        XCTAssertGreaterThanOrEqual(retriesBefore, 0, "the counter is on /metrics")
        s3.pause()
        let frozen = Date()
        var answered = 0
        func retried() throws -> Bool { try metric("neuromod_object_store_retries_total") > retriesBefore }
        while try Date().timeIntervalSince(frozen) < 4 || !retried() {
            XCTAssertLessThan(Date().timeIntervalSince(frozen), 60, "no checkpoint write was retried within a minute")
            if Date().timeIntervalSince(frozen) > 60 { break }
            let t = Date()
            XCTAssertEqual(try c.json("GET", "/v1/runs/\(run)").status, 200)
            XCTAssertEqual(try c.json("GET", "/v1/runs/\(run)/metrics/train.loss?limit=5").status, 200)
            XCTAssertLessThan(Date().timeIntervalSince(t), 3, "reads do not wait for the object store")
            answered += 1
            Thread.sleep(forTimeInterval: 0.2)
        }
        s3.resume()
        XCTAssertGreaterThan(answered, 5)
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(run)")["state"]?.string, "running", "still training after both outages")
        let end = try c.waitForRunEnd(run, timeout: 300)
        XCTAssertEqual(end["state"]?.string, "succeeded", end.text)
        XCTAssertEqual(end["attempt"]?.number, 1, "carried through both outages without losing its lease: \(end.text)")
        let twin = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", spec)["id"]?.string)
        XCTAssertEqual(try c.waitForRunEnd(twin, timeout: 300)["state"]?.string, "succeeded")
        for key in ["train.loss", "test.accuracy"] {
            func series(_ id: String) throws -> [String]? {
                try c.json("GET", "/v1/runs/\(id)/metrics/\(key)?limit=10000")["points"]?.array?.map { p in
                    "\(p["step"]?.number ?? -1):\(p["value"]?.number ?? .nan)"
                }
            }
            let a = try series(run), b = try series(twin)
            XCTAssertEqual(a, b, "\(key): every point once, equal to the undisturbed twin's")
            XCTAssertFalse(a?.isEmpty ?? true)
        }

        // Downloads come from the object store, a Range passed through.
        let latest = try XCTUnwrap(try c.json("GET", "/v1/runs/\(run)/checkpoints")["checkpoints"]?.array?.last)
        let id = try XCTUnwrap(latest["id"]?.string)
        let whole = try c.request("GET", "/v1/runs/\(run)/checkpoints/\(id)")
        XCTAssertEqual(whole.status, 200)
        XCTAssertEqual(Double(whole.body.count), latest["size"]?.number)
        let part = try c.request("GET", "/v1/runs/\(run)/checkpoints/\(id)", headers: [("Range", "bytes=100-4195")])
        XCTAssertEqual(part.status, 206)
        XCTAssertEqual(part.body, whole.body.subdata(in: 100..<4196))
        XCTAssertEqual(part.header("Content-Range"), "bytes 100-4195/\(whole.body.count)")
    }
}
