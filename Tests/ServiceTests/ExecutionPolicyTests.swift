import XCTest
import Engine
import Storage

/// The `execution` section: retries with backoff after infrastructure failures (an unwritable
/// checkpoint folder), no retry for spec failures, the runtime budget, checkpoint retention.
final class ExecutionPolicyTests: XCTestCase {
    var service: ServiceHarness!
    override func setUpWithError() throws { service = try ServiceHarness(workers: 1) }
    override func tearDown() { service.stop() }

    /// The checkpoint folder of a run cannot be created (a file is in its way): the attempt fails
    /// with the I/O reason, the run goes back to the queue with a backoff, reads keep answering,
    /// and once the folder can be written the retry succeeds. With max_attempts 1 it fails instead.
    func testUnwritableCheckpointFolderIsRetriedWithBackoffAndRecovers() throws {
        let c = try service.client()
        // Occupy the single worker so the next run stays queued while its folder is blocked.
        let blocker = try c.submitRun(Specs.mlp(trainLimit: 60000, epochs: 50, checkpointEvery: 100_000))
        let run = try c.submitRun(Specs.mlp(trainLimit: 640, epochs: 1, checkpointEvery: 5,
                                          extra: #", "execution": {"max_attempts": 3, "retry_backoff_s": 0.5}"#))
        let blockedPath = service.dataDir.appendingPathComponent("checkpoints/\(run)")
        try FileManager.default.createDirectory(at: blockedPath.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("in the way".utf8).write(to: blockedPath)
        XCTAssertEqual(try c.json("POST", "/v1/runs/\(blocker)/cancel").status, 202)

        let retrying = try eventually(timeout: 60, "the first attempt to fail") { () -> TestResponse? in
            let r = try c.json("GET", "/v1/runs/\(run)")
            return r["failures"]?.int == 1 ? r : nil
        }
        XCTAssertEqual(retrying["state"]?.string, "queued", retrying.text)
        XCTAssertTrue(retrying["failure_reason"]?.string?.contains("checkpoint") ?? false, retrying.text)
        XCTAssertNotEqual(retrying["retry_not_before"], .null, "a backoff is scheduled")
        XCTAssertEqual(try c.json("GET", "/v1/runs?limit=10").status, 200, "reads keep answering")
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(run)/metrics").status, 200)

        try FileManager.default.removeItem(at: blockedPath)   // space is back
        let done = try c.waitForRunEnd(run)
        XCTAssertEqual(done["state"]?.string, "succeeded", done.text)
        XCTAssertGreaterThanOrEqual(done["attempt"]?.int ?? 0, 2)
        XCTAssertEqual(done["failure_reason"], .null)

        // Without retries the same failure is final, with a clear reason.
        let blocker2 = try c.submitRun(Specs.mlp(trainLimit: 60000, epochs: 50, checkpointEvery: 100_000))
        let single = try c.submitRun(Specs.mlp(trainLimit: 640, epochs: 1, checkpointEvery: 5, extra: #", "execution": {"max_attempts": 1}"#))
        try Data("in the way".utf8).write(to: service.dataDir.appendingPathComponent("checkpoints/\(single)"))
        XCTAssertEqual(try c.json("POST", "/v1/runs/\(blocker2)/cancel").status, 202)
        let failed = try c.waitForRunEnd(single)
        XCTAssertEqual(failed["state"]?.string, "failed", failed.text)
        XCTAssertTrue(failed["failure_reason"]?.string?.contains("gave up after 1 interrupted attempts") ?? false, failed.text)
    }

    /// The execution section is validated like the rest of the spec, and stored with its defaults.
    func testExecutionFieldsAreValidatedAndDefaulted() throws {
        let c = try service.client()
        let run = try c.submitRun(Specs.mlp(extra: #", "execution": {"max_attempts": 5, "retry_backoff_s": 0}"#))
        let stored = try c.json("GET", "/v1/runs/\(run)")
        XCTAssertEqual(stored["spec", "execution", "max_attempts"]?.int, 5)
        XCTAssertEqual(stored["spec", "execution", "max_backoff_s"]?.int, 300, "defaults are filled in")
        XCTAssertEqual(stored["failures"]?.int, 0)
        XCTAssertEqual(try c.waitForRunEnd(run)["state"]?.string, "succeeded")
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "bad"}"#)["id"]?.string)
        for (body, field) in [(#"{"model": {"layers": [784, 10]}, "execution": {"max_attempts": 0}}"#, "execution.max_attempts"),
                              (#"{"model": {"layers": [784, 10]}, "execution": {"keep_best": 1}}"#, "execution.keep_best"),
                              (#"{"model": {"layers": [784, 10]}, "execution": {"max_runtime_s": 0}}"#, "execution.max_runtime_s"),
                              (#"{"model": {"layers": [784, 10]}, "execution": {"retries": 1}}"#, "execution.retries")] {
            let r = try c.json("POST", "/v1/experiments/\(exp)/runs", body)
            XCTAssertEqual(r.status, 400, body)
            XCTAssertEqual(r["error", "details", "field"]?.string, field, r.text)
        }
    }

    /// max_runtime_s: the run stops at its budget, keeps a final checkpoint, fails, and is not retried.
    func testRuntimeBudgetStopsTheRunWithACheckpoint() throws {
        let c = try service.client()
        let run = try c.submitRun(Specs.mlp(trainLimit: 60000, epochs: 50, checkpointEvery: 100_000,
                                          extra: #", "execution": {"max_runtime_s": 5, "max_attempts": 3}"#))
        let done = try c.waitForRunEnd(run, timeout: 40)
        XCTAssertEqual(done["state"]?.string, "failed")
        XCTAssertTrue(done["failure_reason"]?.string?.contains("max_runtime_s") ?? false, done.text)
        XCTAssertEqual(done["attempt"]?.int, 1, "a budget is not retried")
        XCTAssertGreaterThan(done["progress", "completed"]?.int ?? 0, 0)
        let cps = try XCTUnwrap(try c.json("GET", "/v1/runs/\(run)/checkpoints")["checkpoints"]?.array)
        XCTAssertEqual(cps.last?["step"]?.int, done["progress", "completed"]?.int, "the work done is kept")
    }

    /// keep_last 2, keep_best 1: after the run only the two newest and the best-scoring checkpoint
    /// remain, in SQLite and on disk.
    func testCheckpointRetentionKeepsTheNewestAndTheBest() throws {
        let c = try service.client()
        let run = try c.submitRun(Specs.mlp(trainLimit: 1280, epochs: 4, checkpointEvery: 4,
                                          extra: #", "execution": {"keep_last": 2, "keep_best": 1}"#))
        XCTAssertEqual(try c.waitForRunEnd(run)["state"]?.string, "succeeded")
        let cps = try XCTUnwrap(try c.json("GET", "/v1/runs/\(run)/checkpoints?limit=200")["checkpoints"]?.array)
        let accuracy = try XCTUnwrap(try c.json("GET", "/v1/runs/\(run)/metrics/test.accuracy")["points"]?.array)
        let best = accuracy.max { ($0["value"]?.number ?? 0, $0["step"]?.int ?? 0) < ($1["value"]?.number ?? 0, $1["step"]?.int ?? 0) }
        let steps = Set(cps.compactMap { $0["step"]?.int })
        XCTAssertTrue(steps.contains(80) && steps.contains(76), "the two newest (steps \(steps))")
        XCTAssertTrue(steps.contains(best?["step"]?.int ?? -1), "the best by test accuracy (steps \(steps))")
        XCTAssertLessThanOrEqual(cps.count, 3)
        let files = try FileManager.default.contentsOfDirectory(atPath: service.dataDir.appendingPathComponent("checkpoints/\(run)").path)
            .filter { $0.hasSuffix(".safetensors") }
        XCTAssertEqual(files.count, cps.count, "pruned files are gone from disk")
        for case .object(let cp) in cps {
            XCTAssertEqual(try c.request("GET", "/v1/runs/\(run)/checkpoints/\(cp["id"]!.string!)").status, 200)
        }
    }
}
