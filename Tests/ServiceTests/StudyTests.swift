import Foundation
import XCTest
import Support
import Storage
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// Studies through the public API: creation, the table from stored results, exports, errors,
/// cancel, the fair queue, yoked controls, and a SIGKILL of the real binary mid-study.
final class StudyTests: XCTestCase {
    static let tinyBase = #"{"data": {"train_limit": 640, "test_limit": 200}, "model": {"layers": [784, 8, 10]}, "checkpoint_every_steps": 1000}"#

    func waitForStudy(_ c: APIClient, _ id: String, timeout: Double = 180) throws -> TestResponse {
        try eventually(timeout: timeout, "study \(id) to end") { () -> TestResponse? in
            let r = try c.json("GET", "/v1/studies/\(id)")
            return ["succeeded", "failed", "canceled"].contains(r["state"]?.string ?? "") ? r : nil
        }
    }

    func createStudy(_ c: APIClient, _ body: String, experiment: String? = nil) throws -> (exp: String, id: String) {
        let exp = try experiment ?? XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "studies"}"#)["id"]?.string)
        let r = try c.json("POST", "/v1/experiments/\(exp)/studies", body)
        XCTAssertEqual(r.status, 202, r.text)
        return (exp, try XCTUnwrap(r["id"]?.string, r.text))
    }

    func testAStudyRunsItsCellsAndSeedsAndReportsTheTable() throws {
        let service = try ServiceHarness(workers: 2)
        defer { service.stop() }
        let c = try service.client()
        let (exp, id) = try createStudy(c, #"""
            {"name": "lr", "base": \#(Self.tinyBase), "seeds": [1, 2, 3],
             "factors": [{"path": "optimizer.learning_rate", "values": [0.05, 0.2]}], "control": 0}
            """#)
        let done = try waitForStudy(c, id)
        XCTAssertEqual(done["state"]?.string, "succeeded", done.text)
        XCTAssertEqual(done["runs", "total"]?.int, 6)
        XCTAssertEqual(done["runs", "succeeded"]?.int, 6)
        XCTAssertEqual(done["cells"]?.array?.count, 2)
        let rows = try XCTUnwrap(done["table", "0", "cells"]?.array)
        XCTAssertEqual(done["table", "0", "metric"]?.string, "test_accuracy")
        XCTAssertEqual(rows.map { $0["n"]?.int }, [3, 3])
        XCTAssertNil(rows[0]["vs_control"]?.number, "the control has no comparison")
        let vs = try XCTUnwrap(rows[1]["vs_control"])
        XCTAssertEqual(vs["n"]?.int, 3)
        XCTAssertEqual(vs["p"]?.number, 0.25, "all three seeds the same sign: the exact sign-flip p is 2/8")
        let perSeed0 = try XCTUnwrap(rows[0]["per_seed"]), perSeed1 = try XCTUnwrap(rows[1]["per_seed"])
        let diffs = ["1", "2", "3"].map { (perSeed1[$0]?.number ?? .nan) - (perSeed0[$0]?.number ?? .nan) }
        XCTAssertEqual(vs["mean_difference"]?.number ?? .nan, diffs.reduce(0, +) / 3, accuracy: 1e-12)
        // The per-seed values are the runs' own summaries.
        let runs = try c.json("GET", "/v1/experiments/\(exp)/runs?limit=50")["runs"]?.array ?? []
        XCTAssertEqual(runs.count, 6)
        for run in runs {
            let cell = try XCTUnwrap(run["study"]?["cell"]?.int), seed = try XCTUnwrap(run["study"]?["seed"]?.int)
            XCTAssertEqual(run["study"]?["id"]?.string, id)
            XCTAssertEqual(run["spec"]?["seed"]?.int, seed)
            let summary = try c.json("GET", "/v1/runs/\(run["id"]!.string!)/summary")
            XCTAssertEqual(summary["summary", "test_accuracy"]?.number, rows[cell]["per_seed"]?[String(seed)]?.number)
        }
        // Exports: one row per run.
        let csv = try c.json("GET", "/v1/studies/\(id)/results.csv")
        XCTAssertEqual(csv.status, 200)
        XCTAssertEqual(csv.header("Content-Type"), "text/csv; charset=utf-8")
        let lines = csv.text.split(separator: "\r\n")
        XCTAssertEqual(lines.count, 7)
        XCTAssertEqual(lines[0], "run_id,cell,cell_name,kind,seed,state,spec_hash,engine_version,optimizer.learning_rate,test_accuracy")
        let jsonl = try c.json("GET", "/v1/studies/\(id)/results.jsonl").text.split(separator: "\n")
        XCTAssertEqual(jsonl.count, 6)
        let first = try XCTUnwrap(JSONValue.parse(Data(jsonl[0].utf8)))
        XCTAssertNotNil(first["test_accuracy"]?.number)
        XCTAssertEqual(first["engine_version"]?.string, EngineInfo.version)
        // Listing.
        let list = try c.json("GET", "/v1/experiments/\(exp)/studies")
        XCTAssertEqual(list["studies"]?.array?.map { $0["id"]?.string }, [id])
        XCTAssertEqual(list["studies", "0", "state"]?.string, "succeeded")
        // A finished study has nothing left to cancel, and stays succeeded.
        XCTAssertEqual(try c.json("POST", "/v1/studies/\(id)/cancel").status, 409)
        XCTAssertEqual(try c.json("GET", "/v1/studies/\(id)")["state"]?.string, "succeeded")
    }

    func testBadDesignsAre400NamingTheCellAndFieldAndQueueNothing() throws {
        let service = try ServiceHarness(workers: 1)
        defer { service.stop() }
        let c = try service.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "bad"}"#)["id"]?.string)
        func field(_ body: String) throws -> String? {
            let r = try c.json("POST", "/v1/experiments/\(exp)/studies", body)
            XCTAssertEqual(r.status, 400, r.text)
            return r["error", "details", "field"]?.string
        }
        XCTAssertEqual(try field(#"{"base": \#(Self.tinyBase), "factors": [{"path": "optimizer.learning_rate", "values": [0.1, 20]}]}"#),
                       "cells[1].optimizer.learning_rate")
        XCTAssertEqual(try field(#"{"base": \#(Self.tinyBase), "factors": [{"path": "optimiser.learning_rate", "values": [0.1]}]}"#),
                       "cells[0].optimiser")
        XCTAssertEqual(try field(#"{"base": \#(Self.tinyBase), "factors": [{"path": "model.layers.9", "values": [1]}]}"#), "factors[0].path")
        XCTAssertEqual(try field(#"{"base": \#(Self.tinyBase), "seeds": 300, "factors": [{"path": "optimizer.batch_size", "values": [16, 32, 64, 128]}], "max_runs": 1000}"#), "max_runs")
        XCTAssertEqual(try field(#"{"base": \#(Self.tinyBase), "seeds": 1000, "factors": [{"path": "optimizer.batch_size", "values": [16, 32, 64]}]}"#), "max_runs", "the default limit is 2,000 runs")
        XCTAssertEqual(try field(#"{"base": []}"#), "base")
        XCTAssertEqual(try c.json("POST", "/v1/experiments/exp_nope/studies", #"{"base": \#(Self.tinyBase)}"#).status, 404)
        XCTAssertEqual(try c.json("GET", "/v1/studies/study_nope").status, 404)
        XCTAssertEqual(try c.json("POST", "/v1/studies/study_nope/cancel").status, 404)
        XCTAssertEqual(try service.store.countRuns(state: .queued), 0, "nothing was queued")
        XCTAssertEqual(try c.json("GET", "/v1/experiments/\(exp)/studies")["studies"]?.array?.count, 0)
    }

    func testCancelStopsQueuedAndRunningRuns() throws {
        let service = try ServiceHarness(workers: 1)
        defer { service.stop() }
        let c = try service.client()
        let (_, id) = try createStudy(c, #"{"base": {"data": {"train_limit": 12000}, "model": {"layers": [784, 64, 10]}, "protocol": {"epochs": 3}}, "seeds": 10}"#)
        _ = try eventually(timeout: 30, "a run to start") { () -> Bool? in try c.json("GET", "/v1/studies/\(id)")["runs", "running"]?.int == 1 ? true : nil }
        let r = try c.json("POST", "/v1/studies/\(id)/cancel")
        XCTAssertEqual(r.status, 202)
        let done = try waitForStudy(c, id, timeout: 60)
        XCTAssertEqual(done["state"]?.string, "canceled", done.text)
        XCTAssertEqual(done["runs", "canceled"]?.int, 10, done.text)
        XCTAssertEqual(try service.store.countRuns(state: .queued), 0)
    }

    /// The fair queue: a run submitted after a large study starts as soon as the worker frees up.
    func testARunSubmittedAfterALargeStudyIsNotStarved() throws {
        let service = try ServiceHarness(workers: 1)
        defer { service.stop() }
        let c = try service.client()
        let (exp, study) = try createStudy(c, #"{"base": \#(Self.tinyBase), "seeds": 40}"#)
        _ = try eventually(timeout: 30, "the study to start") { () -> Bool? in (try c.json("GET", "/v1/studies/\(study)")["runs", "succeeded"]?.int ?? 0) >= 1 ? true : nil }
        let single = try c.submitRun(Specs.mlp(trainLimit: 640, testLimit: 200, hidden: 8), experiment: "single")
        XCTAssertEqual(try c.waitForRunEnd(single)["state"]?.string, "succeeded")
        let record = try XCTUnwrap(try service.store.run(id: single))
        let (submitted, started) = (record.createdAt, try XCTUnwrap(record.startedAt))
        let studyRuns = try service.store.studyRuns(studyID: study)
        let inBetween = studyRuns.filter { ($0.startedAt ?? .infinity) > submitted && ($0.startedAt ?? .infinity) < started }.count
        XCTAssertLessThanOrEqual(inBetween, 1, "no study run but one the worker may have been taking jumps the queue")
        XCTAssertGreaterThan(studyRuns.filter { ($0.startedAt ?? .infinity) > started }.count, 10, "the single run did not wait for the study")
        _ = exp
        XCTAssertTrue([202, 409].contains(try c.json("POST", "/v1/studies/\(study)/cancel").status), "cancel the rest, if any")
    }

    /// Yoked controls replay the effect traces of their source runs: the mean control applies one
    /// constant learning-rate factor (the source's mean), the shuffled one the same values in
    /// another order.
    func testYokedControlsReplayTheirSourceRunsEffects() throws {
        let service = try ServiceHarness(workers: 2)
        defer { service.stop() }
        let c = try service.client()
        let base = #"{"data": {"train_limit": 3200, "test_limit": 200}, "protocol": {"kind": "split", "scenario": "domain-incremental"}, "model": {"layers": [784, 16, 2]}, "metrics_every_steps": 1, "neuromodulation": {"noradrenaline": {"targets": {"learning_rate": 0.5}}}}"#
        let (exp, id) = try createStudy(c, #"{"base": \#(base), "ablate": true, "controls": ["yoked"], "seeds": 2, "control": "none"}"#)
        let done = try waitForStudy(c, id)
        XCTAssertEqual(done["state"]?.string, "succeeded", done.text)
        XCTAssertEqual(done["cells"]?.array?.compactMap { $0["name"]?.string },
                       ["all on", "none", "all on · yoked shuffled", "all on · yoked mean"])
        let runs = try c.json("GET", "/v1/experiments/\(exp)/runs?limit=50")["runs"]?.array ?? []
        func lr(_ run: JSONValue) throws -> [Double] {
            (try c.json("GET", "/v1/runs/\(run["id"]!.string!)/metrics/nm.effect.learning_rate?limit=10000")["points"]?.array ?? []).compactMap { $0["value"]?.number }
        }
        for seed in [0, 1] {
            func run(_ cell: Int) throws -> JSONValue {
                try XCTUnwrap(runs.first { $0["study"]?["cell"]?.int == cell && $0["study"]?["seed"]?.int == seed })
            }
            let source = try run(0), shuffled = try run(2), mean = try run(3)
            XCTAssertEqual(shuffled["study"]?["replays_run"]?.string, source["id"]?.string)
            XCTAssertEqual(mean["study"]?["replays_run"]?.string, source["id"]?.string)
            XCTAssertEqual(mean["spec"]?["replay"]?["mode"]?.string, "mean")
            let s = try lr(source), sh = try lr(shuffled), m = try lr(mean)
            XCTAssertGreaterThan(s.count, 40)
            XCTAssertEqual(Set(m.map { Float($0) }).count, 1, "one constant factor")
            XCTAssertEqual(m[0], s.reduce(0, +) / Double(s.count), accuracy: 1e-4)
            // Each point is one step's factor (metrics every step): the same multiset, another order.
            XCTAssertEqual(sh.map { Float($0) }.sorted(), s.map { Float($0) }.sorted())
            XCTAssertNotEqual(sh, s)
        }
    }
}
