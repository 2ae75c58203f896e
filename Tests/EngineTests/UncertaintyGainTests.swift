import Foundation
import XCTest
import Support
@testable import Engine

/// Uncertainty-driven gain (NGM) and cumulative split training (issue 12, part 2: the stability gap).
final class UncertaintyGainTests: XCTestCase {
    func spec(gain: Bool, cumulative: Bool = true) throws -> ExperimentSpec {
        let nm = gain ? #", "neuromodulation": {"uncertainty_gain": {"eta": 0.3, "decay": 0.9}}"# : ""
        return try parseSpec(#"{"seed": 2, "data": {"train_limit": 6000, "test_limit": 1000}, "protocol": {"kind": "split", "scenario": "class-incremental", "cumulative": \#(cumulative), "stability_probe": {"every": 2, "steps": 10}}, "model": {"layers": [784, 32, 10]}, "optimizer": {"kind": "sgd", "learning_rate": 0.01}, "metrics_every_steps": 5, "checkpoint_every_steps": 1000000\#(nm)}"#)
    }

    /// g ← γ·g + (1 − γ) + η·H(previous batch): a constant entropy settles it at 1 + η·H/(1 − γ).
    func testGainIntegratesTheEntropyOfThePreviousBatch() {
        var g = UncertaintyGain(eta: 0.3, decay: 0.9)
        g.observe(entropy: 2)
        XCTAssertEqual(g.gain, 1, "the first step has no previous batch")
        g.observe(entropy: 2)
        XCTAssertEqual(g.gain, 0.9 + 0.1 + 0.6, accuracy: 1e-12)
        for _ in 0..<500 { g.observe(entropy: 2) }
        XCTAssertEqual(g.gain, 1 + 0.3 * 2 / 0.1, accuracy: 1e-9)
        for _ in 0..<500 { g.observe(entropy: 0) }
        XCTAssertEqual(g.gain, 1, accuracy: 1e-9, "certainty relaxes it to baseline")
    }

    /// Cumulative training: task t trains on every image of tasks 0…t; the gain rises when a
    /// switch brings uncertain new classes and falls as they are learned; resume is bit for bit.
    func testGainRisesAfterASwitchAndResumes() throws {
        let s = try spec(gain: true)
        let (train, test) = try FashionMNIST.load()
        let loop = TrainingLoop<MLPFamily>(spec: s, train: train, test: test)
        let counts = loop.family.trainingTasks.map(\.trainIndices.count)
        let own = loop.family.tasks.map(\.trainIndices.count)
        XCTAssertEqual(counts, own.indices.map { t in own[0...t].reduce(0, +) })
        let o = RecordingObserver()
        _ = try loop.run(observer: o)
        let gain = o.metrics.filter { $0.key == "nm.uncertainty_gain" }
        let switchStep = loop.schedule.taskStart[1]
        let before = try XCTUnwrap(gain.last { $0.step <= switchStep }?.value)
        let after = gain.filter { $0.step > switchStep && $0.step <= switchStep + 15 }.map(\.value).max() ?? 0
        XCTAssertGreaterThan(after, before + 0.1, "new classes are uncertain: the gain rises (\(before) → \(after))")
        let summary = try XCTUnwrap(loop.summary().objectValue)
        XCTAssertGreaterThan(summary["uncertainty_gain_mean"]?.numberValue ?? 0, 1)
        XCTAssertNotNil(summary["stability_gap_mean"]?.objectValue?["depth"]?.numberValue)
        let part = TrainingLoop<MLPFamily>(spec: s, train: train, test: test)
        let stop = RecordingObserver()
        stop.stopAt = loop.schedule.taskStart[2] + 3
        _ = try part.run(observer: stop)
        let resumed = TrainingLoop<MLPFamily>(spec: s, train: train, test: test)
        try resumed.restore(from: part.checkpoint())
        _ = try resumed.run(observer: RecordingObserver())
        XCTAssertEqual(resumed.family.uncertaintyGain, loop.family.uncertaintyGain)
        XCTAssertEqual(resumed.accuracyMatrix, loop.accuracyMatrix)
        // The gain changes training: the same run without it ends elsewhere.
        let plain = TrainingLoop<MLPFamily>(spec: try spec(gain: false), train: train, test: test)
        _ = try plain.run(observer: RecordingObserver())
        XCTAssertNotEqual(plain.accuracyMatrix, loop.accuracyMatrix)
    }

    func testSpecRules() {
        func field(_ body: String) -> String? {
            do { _ = try parseSpec(body); return nil } catch { return (error as? SpecError)?.field }
        }
        XCTAssertEqual(field(#"{"model": {"layers": [784, 8, 10]}, "protocol": {"kind": "split", "cumulative": true}}"#), "protocol.cumulative", "task-incremental has no shared head")
        XCTAssertEqual(field(#"{"model": {"layers": [784, 8, 10]}, "protocol": {"kind": "split", "scenario": "class-incremental", "cumulative": true, "joint": true}}"#), "protocol.cumulative")
        XCTAssertEqual(field(#"{"protocol": {"kind": "bandit"}, "neuromodulation": {"uncertainty_gain": {}}}"#), "neuromodulation.uncertainty_gain")
        XCTAssertEqual(field(#"{"model": {"layers": [784, 8, 10]}, "neuromodulation": {"uncertainty_gain": {"decay": 1}}}"#), "neuromodulation.uncertainty_gain.decay")
        XCTAssertNil(field(#"{"model": {"layers": [784, 8, 10]}, "neuromodulation": {"uncertainty_gain": {"eta": 0.2}}}"#))
        XCTAssertEqual(field(#"{"model": {"kind": "snn", "layers": [784, 8, 10]}, "neuromodulation": {"uncertainty_gain": {"eta": 0.2}}}"#), "neuromodulation.uncertainty_gain")
    }
}
