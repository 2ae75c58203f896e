import Foundation
import XCTest
import Support
import Engine
@testable import Studies

func json(_ text: String) throws -> JSONValue { try XCTUnwrap(JSONValue.parse(Data(text.utf8)), text) }

/// A small, fast base spec (real Fashion-MNIST slices) with all four modulators.
let modulatedBase = #"""
{"data": {"train_limit": 640, "test_limit": 200}, "protocol": {"kind": "split", "scenario": "domain-incremental"},
 "model": {"layers": [784, 16, 2]}, "consolidation": {"kind": "ewc", "strength": 100},
 "neuromodulation": {"dopamine": {"targets": {"learning_rate": 0.5}}, "noradrenaline": {"targets": {"learning_rate": 0.3}},
                     "acetylcholine": {"targets": {"gain": 0.2}}, "serotonin": {"targets": {"consolidation": 1}}}}
"""#

final class StudyPlanTests: XCTestCase {
    func plan(_ text: String) throws -> StudyPlan { try StudyPlan.make(try StudyDesign.parse(try json(text))) }

    func error(_ text: String) -> StudyError? {
        do { _ = try plan(text); return nil } catch { return error as? StudyError }
    }

    func testGridAndOneAtATimeExpansionCounts() throws {
        let base = #"{"model": {"layers": [784, 8, 10]}, "data": {"train_limit": 640}}"#
        let grid = try plan(#"{"base": \#(base), "seeds": 4, "factors": [{"path": "optimizer.learning_rate", "values": [0.01, 0.05, 0.1]}, {"path": "optimizer.batch_size", "values": [32, 64]}]}"#)
        XCTAssertEqual(grid.cells.count, 6)
        XCTAssertEqual(grid.runs.count, 24)
        XCTAssertEqual(grid.cells[1].name, "optimizer.learning_rate=0.01, optimizer.batch_size=64")
        XCTAssertEqual(grid.runs.filter { $0.cell == 5 }.map(\.seed), [0, 1, 2, 3])
        XCTAssertEqual(grid.runs[5].spec.optimizer.batchSize, 64)
        let oat = try plan(#"{"base": \#(base), "design": "one_at_a_time", "seeds": [7, 9], "factors": [{"path": "optimizer.learning_rate", "values": [0.01, 0.05, 0.1]}, {"path": "optimizer.batch_size", "values": [32, 64]}]}"#)
        XCTAssertEqual(oat.cells.map(\.name), ["base", "optimizer.learning_rate=0.01", "optimizer.learning_rate=0.05", "optimizer.learning_rate=0.1",
                                              "optimizer.batch_size=32", "optimizer.batch_size=64"])
        XCTAssertEqual(oat.runs.count, 12)
        XCTAssertEqual(Set(oat.runs.map(\.seed)), [7, 9])
        XCTAssertEqual(oat.metrics, ["test_accuracy"])
    }

    func testAblationAndYokedControls() throws {
        let ablation = try plan(#"{"base": \#(modulatedBase), "ablate": true, "seeds": 5, "control": "none"}"#)
        XCTAssertEqual(ablation.cells.map(\.name), ["all on",
            "without dopamine", "without noradrenaline", "without acetylcholine", "without serotonin",
            "only dopamine", "only noradrenaline", "only acetylcholine", "only serotonin", "none"])
        XCTAssertEqual(ablation.runs.count, 50)
        XCTAssertEqual(ablation.controlCell, 9)
        XCTAssertEqual(ablation.metrics, ["average_accuracy", "backward_transfer"])
        XCTAssertTrue(ablation.runs.first { $0.cell == 9 }!.spec.neuromodulation.channels.isEmpty)
        XCTAssertEqual(ablation.runs.first { $0.cell == 5 }!.spec.neuromodulation.channels.map(\.modulator.rawValue), ["dopamine"])
        XCTAssertEqual(try plan(#"{"base": \#(modulatedBase), "ablate": ["dopamine"], "seeds": 2}"#).cells.map(\.name), ["all on", "none"])
        // Ablating context gating takes context inference with it (it chooses among the gated sub-networks).
        let inferring = #"{"data": {"train_limit": 640}, "protocol": {"kind": "split", "scenario": "class-incremental"}, "model": {"layers": [784, 16, 10]}, "neuromodulation": {"dopamine": {"targets": {"learning_rate": 0.5}}, "context": {"gating_keep": 0.5, "inference": "entropy"}}}"#
        let gated = try plan(#"{"base": \#(inferring), "ablate": true, "seeds": 1}"#)
        XCTAssertEqual(gated.cells.map(\.name), ["all on", "without dopamine", "without context_gating", "only dopamine", "only context_gating", "none"])
        XCTAssertNil(gated.runs.last!.spec.neuromodulation.context.inference)

        let yoked = try plan(#"{"base": \#(modulatedBase), "ablate": true, "controls": ["yoked"], "seeds": 3}"#)
        // Every modulated cell (all but "none") gets a shuffled and a mean partner.
        XCTAssertEqual(yoked.cells.count, 10 + 2 * 9)
        XCTAssertEqual(yoked.runs.count, 28 * 3)
        let partner = try XCTUnwrap(yoked.cells.first { $0.name == "without dopamine · yoked mean" })
        XCTAssertEqual(partner.kind, .yokedMean)
        XCTAssertEqual(partner.source, 1)
        for run in yoked.runs where yoked.cells[run.cell].source != nil {
            let source = yoked.runs[try XCTUnwrap(run.after)]
            XCTAssertEqual(source.cell, yoked.cells[run.cell].source)
            XCTAssertEqual(source.seed, run.seed, "a control replays the same seed's run")
            XCTAssertNotNil(run.spec.replay)
            XCTAssertEqual(run.spec.neuromodulation, source.spec.neuromodulation)
        }
    }

    func testBadDesignsNameTheCellAndField() {
        let base = #"{"model": {"layers": [784, 8, 10]}}"#
        XCTAssertEqual(error(#"{"base": \#(base), "factors": [{"path": "optimizer.learnig_rate", "values": [0.1]}]}"#)?.field,
                       "cells[0].optimizer.learnig_rate", "a misspelt path is an unknown field of the cell's spec")
        let value = error(#"{"base": \#(base), "factors": [{"path": "optimizer.learning_rate", "values": [0.1, -1]}]}"#)
        XCTAssertEqual(value?.field, "cells[1].optimizer.learning_rate")
        XCTAssertTrue(value?.message.contains("cell 1 (optimizer.learning_rate=-1)") ?? false, value?.message ?? "")
        XCTAssertEqual(error(#"{"base": \#(base), "factors": [{"path": "model.layers.5", "values": [3]}]}"#)?.field, "factors[0].path")
        XCTAssertEqual(error(#"{"base": \#(base), "factors": [{"path": "model.layers.x", "values": [3]}]}"#)?.field, "factors[0].path")
        XCTAssertEqual(error(#"{"base": \#(base), "factors": [{"path": "seed", "values": [3]}]}"#)?.field, "factors[0].path")
        XCTAssertEqual(error(#"{"base": \#(base), "seeds": 50, "max_runs": 20}"#)?.field, "max_runs")
        XCTAssertEqual(error(#"{"base": \#(base), "ablate": true}"#)?.field, "ablate")
        XCTAssertEqual(error(#"{"base": \#(base), "controls": ["yoked"]}"#)?.field, "controls")
        XCTAssertEqual(error(#"{"base": \#(base), "control": "nope"}"#)?.field, "control")
        XCTAssertEqual(error(#"{"base": \#(base), "colour": 1}"#)?.field, "colour")
        XCTAssertEqual(error(#"{"factors": []}"#)?.field, "base")
        XCTAssertEqual(error(#"{"base": \#(base), "seeds": [1, 1]}"#)?.field, "seeds[1]")
        XCTAssertEqual(error(#"{"base": \#(base), "max_runs": 20000}"#)?.field, "max_runs")
        XCTAssertEqual(error(#"{"base": \#(base), "metrics": ["test_accuracy", "test_accuracy"]}"#)?.field, "metrics[1]")
        XCTAssertEqual(error(#"{"base": \#(base), "metrics": ["seed"]}"#)?.field, "metrics[0]", "a metric may not shadow a results column")
        XCTAssertEqual(error(#"{"base": \#(base), "factors": [{"path": "optimizer.learning_rate", "values": [0.1]}], "metrics": ["optimizer.learning_rate"]}"#)?.field, "metrics[0]")
    }
}

final class ExampleStudyTests: XCTestCase {
    /// Every design in examples/studies/ expands, as it is, into the cells BENCHMARKS.md reports.
    func testExampleStudiesExpand() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/studies")
        let expected = ["ablation-split-domain.json": (10, 50), "na-coupling-sweep.json": (8, 40), "ablation-yoked.json": (28, 140),
                        "ewc-fisher-class-incremental.json": (10, 50), "references-class-incremental.json": (4, 20),
                        "context-inference-class-incremental.json": (8, 40), "context-memory-size.json": (8, 40),
                        "selective-class-incremental.json": (13, 65), "selective-task-incremental.json": (13, 65),
                        "selective-domain-incremental.json": (13, 65),
                        "sparse-plasticity-class-incremental.json": (4, 20),
                        "stability-gap-na-gain.json": (4, 20), "stability-gap-uncertainty-gain.json": (10, 50),
                        "serotonin-patience-iti0.json": (6, 60), "serotonin-patience-iti10.json": (6, 60),
                        "serotonin-signal-selection.json": (24, 240), "serotonin-signal-test.json": (6, 60),
                        "bandit-arms.json": (5, 50),
                        "heterogeneity-spike-patterns.json": (4, 40), "heterogeneity-spike-patterns-8-epochs.json": (4, 40),
                        "heterogeneity-sequential-fmnist.json": (4, 40), "heterogeneity-bound-na-spike-patterns.json": (3, 30),
                        "heterogeneity-bound-na-sequential-fmnist.json": (3, 30)]
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        XCTAssertEqual(Set(files), Set(expected.keys))
        for f in files {
            let plan = try StudyPlan.make(try StudyDesign.parse(try XCTUnwrap(JSONValue.parse(try Data(contentsOf: dir.appendingPathComponent(f))))))
            XCTAssertEqual(plan.cells.count, expected[f]?.0, f)
            XCTAssertEqual(plan.runs.count, expected[f]?.1, f)
        }
    }
}

final class StudyExportTests: XCTestCase {
    /// CSV quoting (RFC 4180) covers commas, quotes and every newline, CRLF included; the study
    /// state is `canceled` only when a run was canceled.
    func testCSVQuotingAndStudyState() {
        let csv = StudyService.csv(columns: ["a", "b"], rows: [[.string("x,y"), .string("line\r\nbreak")], [.string("say \"hi\""), .number(2)]])
        XCTAssertEqual(csv, "a,b\r\n\"x,y\",\"line\r\nbreak\"\r\n\"say \"\"hi\"\"\",2\r\n")
        XCTAssertEqual(StudyReport.state(counts: [.succeeded: 4], cancelRequested: true), "succeeded", "a cancel that stopped nothing")
        XCTAssertEqual(StudyReport.state(counts: [.succeeded: 2, .canceled: 2], cancelRequested: true), "canceled")
        XCTAssertEqual(StudyReport.state(counts: [.succeeded: 2, .failed: 1], cancelRequested: false), "failed")
        XCTAssertEqual(StudyReport.state(counts: [.queued: 3], cancelRequested: false), "queued")
        XCTAssertEqual(StudyReport.state(counts: [.queued: 3, .succeeded: 1], cancelRequested: false), "running")
    }
}
