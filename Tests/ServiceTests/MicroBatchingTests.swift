import Support
import XCTest
import Engine
@testable import API
import Serving
import HTTPServer

/// Micro-batching: the batcher in memory, then concurrent single-sample predictions over HTTP.
final class MicroBatchingTests: XCTestCase {
    /// Eight callers arrive together; the leader waits (max delay) until it has eight rows, runs
    /// one pass, and every caller gets exactly its own row back.
    func testConcurrentCallersShareOnePassAndGetTheirOwnRows() throws {
        let batcher = PredictionBatcher(configuration: .init(maxRows: 8, maxDelay: 2))
        let passes = NSLock()
        nonisolated(unsafe) var sizes: [Int] = []
        nonisolated(unsafe) var results = [[Float]](repeating: [], count: 8)
        nonisolated(unsafe) var rowsSeen = [Int](repeating: 0, count: 8)
        onThreads(8) { i in
            let r = try! batcher.predict([[Float(i), 1]]) { rows in
                passes.lock(); sizes.append(rows.count); passes.unlock()
                return rows.map { [$0[0] * 10, $0[1]] }
            }
            results[i] = r.outputs[0]
            rowsSeen[i] = r.batchRows
        }
        XCTAssertEqual(sizes, [8], "one forward pass of eight rows")
        XCTAssertEqual(rowsSeen, [Int](repeating: 8, count: 8))
        for i in 0..<8 { XCTAssertEqual(results[i], [Float(i) * 10, 1], "caller \(i) got its own row") }
    }

    /// A pass's error reaches every member of its batch, and a request larger than the batch runs alone.
    func testErrorsReachTheBatchAndOversizeRequestsRunAlone() throws {
        struct Boom: Error {}
        let batcher = PredictionBatcher(configuration: .init(maxRows: 4, maxDelay: 0))
        XCTAssertThrowsError(try batcher.predict([[1]]) { _ in throw Boom() }) { XCTAssertTrue($0 is Boom) }
        let big = try batcher.predict((0..<10).map { [Float($0)] }) { $0 }
        XCTAssertEqual(big.batchRows, 10)
        XCTAssertEqual(big.outputs.map { $0[0] }, (0..<10).map(Float.init))
        let off = PredictionBatcher(configuration: .init(maxRows: 1, maxDelay: 5))
        XCTAssertEqual(try off.predict([[3]]) { $0 }.batchRows, 1, "maxRows 1: no batching, no waiting")
    }

    /// Over HTTP: 8 clients send single-image predictions at once to a server with 8 handler
    /// threads and a 50 ms batching window. Requests are coalesced (the batch-rows header says so)
    /// and every answer equals the same image predicted alone.
    func testConcurrentHTTPPredictionsAreCoalescedAndUnchanged() throws {
        let service = try ServiceHarness(workers: 1, configure: { $0.handlerThreads = 8 },
                                         serving: { $0.batching = .init(maxRows: 8, maxDelay: 0.05) })
        defer { service.stop() }
        let c = try service.client()
        let run = try trainServableRun(c)
        XCTAssertEqual(try c.json("POST", "/v1/models", #"{"name": "mb", "run_id": "\#(run)"}"#).status, 201)
        let (_, test) = try DatasetLibrary(directory: Paths.datasetDir).load("fashion-mnist")
        let bodies = (0..<8).map { r in
            JSONValue.object(["inputs": .array([.array((0..<784).map { .number(Double(test.inputs.pointer[r * 784 + $0])) })])]).serialized()
        }
        var alone: [[Double]] = []
        for r in 0..<8 {
            let p = try c.request("POST", "/v1/models/mb/predict", body: bodies[r])
            XCTAssertEqual(p.header("Neuromod-Batch-Rows"), "1", "one client at a time: batches of one")
            alone.append(try XCTUnwrap(p["predictions", "0", "probabilities"]?.array?.compactMap(\.number)))
        }
        nonisolated(unsafe) let clients = try (0..<8).map { _ in try service.client() }
        let lock = NSLock()
        nonisolated(unsafe) var together = [[Double]](repeating: [], count: 8)
        nonisolated(unsafe) var batchRows = [Int](repeating: 0, count: 8)
        onThreads(8) { r in
            let p = try? clients[r].request("POST", "/v1/models/mb/predict", body: bodies[r])
            lock.lock(); defer { lock.unlock() }
            together[r] = p?["predictions", "0", "probabilities"]?.array?.compactMap(\.number) ?? []
            batchRows[r] = Int(p?.header("Neuromod-Batch-Rows") ?? "") ?? 0
        }
        XCTAssertGreaterThan(batchRows.max() ?? 0, 1, "some requests shared a forward pass: \(batchRows)")
        let serving = try c.json("GET", "/v1/models/mb")
        XCTAssertEqual(serving["serving", "requests"]?.int, 16)
        XCTAssertEqual(serving["serving", "rows"]?.int, 16)
        XCTAssertLessThan(serving["serving", "forward_passes"]?.int ?? 99, 16, "fewer passes than requests")
        XCTAssertEqual(serving["serving", "max_delay_us"]?.int, 50_000)
        for r in 0..<8 {
            XCTAssertEqual(together[r].count, 10)
            for k in 0..<min(10, together[r].count) { XCTAssertEqual(together[r][k], alone[r][k], accuracy: 1e-6) }
        }
    }
}

/// Runs `body(i)` for i in 0..<n on n threads of their own (GCD would cap the width at the core
/// count) and returns when all are done.
func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<n {
        group.enter()
        Thread { body(i); group.leave() }.start()
    }
    group.wait()
}

/// Serving never waits for training: predictions answer promptly while the only worker trains.
final class ServingWhileTrainingTests: XCTestCase {
    func testPredictionsAnswerWhileARunTrains() throws {
        let service = try ServiceHarness(workers: 1)
        defer { service.stop() }
        let c = try service.client()
        let run = try trainServableRun(c, hidden: 16)
        XCTAssertEqual(try c.json("POST", "/v1/models", #"{"name": "live", "run_id": "\#(run)"}"#).status, 201)
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "busy"}"#)["id"]?.string)
        let busy = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs",
                                            Specs.mlp(trainLimit: 60000, epochs: 50, hidden: 256, checkpointEvery: 100_000))["id"]?.string)
        _ = try eventually(timeout: 60, "training to start") { () -> Bool? in
            (try c.json("GET", "/v1/runs/\(busy)")["progress", "completed"]?.int ?? 0) > 0 ? true : nil
        }
        let row = "[" + Array(repeating: "0.25", count: 784).joined(separator: ",") + "]"
        var slowest = 0.0
        for _ in 0..<50 {
            let started = Date()
            let p = try c.json("POST", "/v1/models/live/predict", #"{"inputs": [\#(row)]}"#)
            XCTAssertEqual(p.status, 200)
            slowest = max(slowest, Date().timeIntervalSince(started))
        }
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(busy)")["state"]?.string, "running", "the run kept training")
        XCTAssertLessThan(slowest, 0.5, "no prediction waited for the training step (slowest \(slowest) s)")
        XCTAssertEqual(try c.json("POST", "/v1/runs/\(busy)/cancel").status, 202)
    }
}
