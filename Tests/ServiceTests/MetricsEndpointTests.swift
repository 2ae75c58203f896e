import Foundation
import XCTest
import TestSupport
import Support
#if canImport(Glibc)
import Glibc
#endif

/// `GET /metrics` on the real binary: Prometheus's linter accepts the page, and its series move
/// with what the service did (requests by route template, runs, workers, SQLite writes,
/// predictions, open connections).
final class MetricsEndpointTests: XCTestCase {
    func testPrometheusPageOfTheRealService() throws {
        let dir = try Paths.temporaryDirectory("metrics")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ServiceProcess(dataDir: dir)
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        let c = try server.client()
        for _ in 0..<3 { XCTAssertEqual(try c.request("GET", "/v1/healthz").status, 200) }
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "m"}"#)["id"]?.string)
        let run = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"protocol": {"kind": "bandit", "trials": 50}}"#)["id"]?.string)
        _ = try eventually(timeout: 60, "run done") { () -> Bool? in try c.json("GET", "/v1/runs/\(run)")["state"]?.string == "succeeded" ? true : nil }
        let mlp = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"model": {"layers": [784, 8, 10]}, "data": {"train_limit": 256, "test_limit": 64}}"#)["id"]?.string)
        _ = try eventually(timeout: 60, "mlp done") { () -> Bool? in try c.json("GET", "/v1/runs/\(mlp)")["state"]?.string == "succeeded" ? true : nil }
        XCTAssertEqual(try c.json("POST", "/v1/models", #"{"name": "m", "run_id": "\#(mlp)"}"#).status, 201)
        let zeros = "[" + Array(repeating: "0", count: 784).joined(separator: ",") + "]"
        XCTAssertEqual(try c.json("POST", "/v1/models/m/predict", #"{"inputs": [\#(zeros), \#(zeros)]}"#).status, 200)
        XCTAssertEqual(try c.request("GET", "/v1/runs/run_nope").status, 404)
        XCTAssertEqual(try c.request("GET", "/nowhere").status, 404)

        let page = try c.request("GET", "/metrics")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") ?? false)
        let text = String(decoding: page.body, as: UTF8.self)
        let (status, lint) = try TestSupport.promtool(text)
        XCTAssertEqual(status, 0, lint + "\n" + text)

        func value(_ series: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        XCTAssertEqual(value(#"neuromod_http_requests_total{method="GET",route="/v1/healthz",status="200"}"#), 3)
        XCTAssertEqual(value(#"neuromod_http_requests_total{method="GET",route="/v1/runs/{run_id}",status="404"}"#), 1, "the route template, not the raw path")
        XCTAssertEqual(value(#"neuromod_http_requests_total{method="GET",route="unmatched",status="404"}"#), 1)
        XCTAssertFalse(text.contains("run_nope"), "raw paths never become labels")
        XCTAssertEqual(value(#"neuromod_runs{state="succeeded"}"#), 2)
        XCTAssertEqual(value("neuromod_training_samples_total"), 50 + 256, "50 bandit trials and one epoch of 256 images")
        XCTAssertEqual(value(#"neuromod_predictions_total{model="m"}"#), 2, "rows, not requests")
        XCTAssertEqual(value(#"neuromod_prediction_duration_seconds_count{model="m"}"#), 1)
        XCTAssertEqual(value("neuromod_queue_depth"), 0)
        XCTAssertNotNil(value("neuromod_worker_busy_ratio"))
        XCTAssertGreaterThanOrEqual(value("neuromod_http_open_connections") ?? 0, 1, "this client's connection")
        XCTAssertGreaterThan(value("neuromod_db_write_duration_seconds_count") ?? 0, 2, "experiment, run, state changes, metrics")
        XCTAssertEqual(value(#"neuromod_http_request_duration_seconds_count{route="/v1/healthz",status="200"}"#), 3)
        XCTAssertEqual(value(#"neuromod_http_request_duration_seconds_count{route="/v1/runs/{run_id}",status="404"}"#), 1, "latency by status too")
    }
}

/// Request ids and the JSON log (issue 13: structured logs).
final class StructuredLogTests: XCTestCase {
    /// X-Request-Id: a valid one is echoed, a missing or invalid one is replaced by a fresh id.
    func testRequestIDsAreEchoedOrGenerated() throws {
        let service = try ServiceHarness()
        let c = try service.client()
        XCTAssertEqual(try c.request("GET", "/v1/healthz", headers: [("X-Request-Id", "abc-123")]).header("X-Request-Id"), "abc-123")
        let fresh = try XCTUnwrap(try c.request("GET", "/v1/healthz").header("X-Request-Id"))
        XCTAssertEqual(fresh.count, 32)
        XCTAssertTrue(fresh.allSatisfy(\.isHexDigit))
        let other = try XCTUnwrap(try c.request("GET", "/v1/healthz").header("X-Request-Id"))
        XCTAssertNotEqual(fresh, other)
        for bad in ["with space", String(repeating: "x", count: 129), "é"] {
            let id = try XCTUnwrap(try c.request("GET", "/v1/healthz", headers: [("X-Request-Id", bad)]).header("X-Request-Id"))
            XCTAssertNotEqual(id, bad)
            XCTAssertEqual(id.count, 32)
        }
        XCTAssertNotNil(try c.request("GET", "/v1/runs/run_nope").header("X-Request-Id"), "errors carry one too")
    }

    /// `--log-format json`: every line of the real binary's log is one JSON object with time,
    /// level and event; requests are logged with their id, route template, status and duration;
    /// run events with the run id.
    func testJSONLogOfTheRealBinary() throws {
        let dir = try Paths.temporaryDirectory("jsonlog")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ServiceProcess(dataDir: dir, extraArguments: ["--log-format", "json"])
        let c = try server.client()
        XCTAssertEqual(try c.request("GET", "/v1/healthz", headers: [("X-Request-Id", "trace-42")]).status, 200)
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "log"}"#)["id"]?.string)
        let run = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"protocol": {"kind": "bandit", "trials": 50}}"#)["id"]?.string)
        _ = try eventually(timeout: 60, "run done") { () -> Bool? in try c.json("GET", "/v1/runs/\(run)")["state"]?.string == "succeeded" ? true : nil }
        server.kill(SIGTERM)
        _ = server.waitForExit(timeout: 10)
        let lines = try String(contentsOf: server.logURL, encoding: .utf8).split(separator: "\n")
        XCTAssertFalse(lines.isEmpty)
        var objects: [[String: JSONValue]] = []
        for line in lines {
            let o = try XCTUnwrap(JSONValue.parse(Data(line.utf8))?.objectValue, "not a JSON object: \(line)")
            XCTAssertNotNil(o["time"]?.stringValue)
            XCTAssertNotNil(o["level"]?.stringValue)
            XCTAssertNotNil(o["event"]?.stringValue)
            objects.append(o)
        }
        let health = try XCTUnwrap(objects.first { $0["request_id"]?.stringValue == "trace-42" })
        XCTAssertEqual(health["event"]?.stringValue, "request")
        XCTAssertEqual(health["route"]?.stringValue, "/v1/healthz")
        XCTAssertEqual(health["status"]?.intValue, 200)
        XCTAssertNotNil(health["duration_ms"]?.numberValue)
        let polled = objects.filter { $0["event"]?.stringValue == "request" && $0["route"]?.stringValue == "/v1/runs/{run_id}" }
        XCTAssertFalse(polled.isEmpty, "routes are logged as templates")
        XCTAssertFalse(objects.contains { ($0["route"]?.stringValue ?? "").contains(run) }, "never the raw path")
        let runEvents = objects.filter { $0["event"]?.stringValue == "run" && $0["run_id"]?.stringValue == run }
        XCTAssertTrue(runEvents.contains { ($0["message"]?.stringValue ?? "").contains("succeeded") }, "\(runEvents)")
        let (bad, output) = try runNeuromod(["serve", "--log-format", "yaml", "--port", "0", "--data-dir", dir.path])
        XCTAssertNotEqual(bad, 0)
        XCTAssertTrue(output.contains("--log-format"), output)
    }
}
