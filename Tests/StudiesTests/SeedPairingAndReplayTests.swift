import Foundation
import XCTest
import Support
@testable import Engine
@testable import Studies

final class Quiet: TrainingObserver {
    var metrics: [MetricSample] = []
    func session(_ session: TrainingSession, emitted metrics: [MetricSample]) { self.metrics += metrics }
    func sessionReachedCheckpoint(_ session: TrainingSession) throws {}
    func sessionShouldStop(_ session: TrainingSession) -> Bool { false }
}

enum Data_ {
    static let splits = try! DatasetLibrary(directory: ProcessInfo.processInfo.environment["NEUROMOD_DATASET_DIR"]
                                            ?? DatasetLibrary.defaultFashionMNISTDirectory).load("fashion-mnist")
}

final class SeedPairingAndReplayTests: XCTestCase {
    func train(_ spec: ExperimentSpec) throws -> (TrainingLoop<MLPFamily>, Quiet) {
        let loop = TrainingLoop<MLPFamily>(spec: spec, train: Data_.splits.train, test: Data_.splits.test)
        let o = Quiet()
        XCTAssertEqual(try loop.run(observer: o), .completed)
        return (loop, o)
    }

    /// Seed pairing: a seed means the same initial weights and data order in every cell, so a cell
    /// whose only difference is a coupling of 0 trains bit for bit like the cell without the channel.
    func testCellsDifferingOnlyInAZeroCouplingAreBitIdentical() throws {
        let base = #"{"data": {"train_limit": 640, "test_limit": 200}, "model": {"layers": [784, 16, 10]}, "checkpoint_every_steps": 1000}"#
        let plan = try StudyPlan.make(try StudyDesign.parse(try json(#"""
            {"base": \#(base), "seeds": [3, 4], "design": "one_at_a_time",
             "factors": [{"path": "neuromodulation.dopamine.targets.learning_rate", "values": [0, 0.8]}]}
            """#)))
        XCTAssertEqual(plan.cells.map(\.name), ["base", "neuromodulation.dopamine.targets.learning_rate=0",
                                               "neuromodulation.dopamine.targets.learning_rate=0.8"])
        for seed in [3, 4] {
            let runs = plan.runs.filter { $0.seed == seed }
            XCTAssertTrue(runs[0].spec.neuromodulation.channels.isEmpty)
            let fresh = runs.map { TrainingLoop<MLPFamily>(spec: $0.spec, train: Data_.splits.train, test: Data_.splits.test) }
            XCTAssertEqual(fresh[0].model.weights[0].array, fresh[2].model.weights[0].array, "same seed, same initial weights")
            let (plain, _) = try train(runs[0].spec)
            let (zero, _) = try train(runs[1].spec)
            let (modulated, _) = try train(runs[2].spec)
            XCTAssertEqual(plain.model.weights[0].array, zero.model.weights[0].array, "seed \(seed): coupling 0 = no channel")
            XCTAssertEqual(plain.model.weights[1].array, zero.model.weights[1].array)
            XCTAssertNotEqual(plain.model.weights[0].array, modulated.model.weights[0].array)
        }
    }

    /// A modulated run records the effects it applied; replaying that trace as it is reproduces the
    /// run bit for bit, and the yoked controls apply it shuffled or as its mean.
    func testEffectTracesRecordAndReplay() throws {
        let text = #"{"seed": 2, "data": {"train_limit": 3200, "test_limit": 200}, "protocol": {"kind": "split", "scenario": "domain-incremental"}, "model": {"layers": [784, 16, 2]}, "metrics_every_steps": 1, "checkpoint_every_steps": 1000, "neuromodulation": {"noradrenaline": {"targets": {"learning_rate": 0.5, "gain": 0.2}}, "serotonin": {"targets": {"learning_rate": -0.5}}}}"#
        let spec = try ExperimentSpec.parse(try json(text))
        let (source, sourceMetrics) = try train(spec)
        let trace = source.effectTrace
        XCTAssertEqual(trace.count, source.totalSteps)
        XCTAssertGreaterThan(Set(trace.learningRate).count, 10, "the trace varies from step to step")
        // The trace survives a checkpoint.
        XCTAssertEqual(try EffectTrace(checkpoint: source.checkpoint()), trace)

        let replayed = TrainingLoop<MLPFamily>(spec: spec, train: Data_.splits.train, test: Data_.splits.test)
        try replayed.replayEffects(trace)
        _ = try replayed.run(observer: Quiet())
        XCTAssertEqual(replayed.model.weights[0].array, source.model.weights[0].array, "the unshuffled trace reproduces the run")
        XCTAssertEqual(replayed.accuracyMatrix, source.accuracyMatrix)

        var yokedSpec = spec
        yokedSpec.replay = ReplaySpec(mode: .mean, seed: 2)
        let mean = TrainingLoop<MLPFamily>(spec: yokedSpec, train: Data_.splits.train, test: Data_.splits.test)
        try mean.replayEffects(yokedSpec.replay!.apply(to: trace))
        let meanMetrics = Quiet()
        _ = try mean.run(observer: meanMetrics)
        let applied = meanMetrics.metrics.filter { $0.key == "nm.effect.learning_rate" }.map(\.value)
        XCTAssertEqual(Set(applied.map { Float($0) }).count, 1, "the mean control applies one constant factor")
        let sourceLR = sourceMetrics.metrics.filter { $0.key == "nm.effect.learning_rate" }.map(\.value)
        XCTAssertEqual(applied[0], sourceLR.reduce(0, +) / Double(sourceLR.count), accuracy: 1e-5, "…the source's mean")

        let shuffled = trace.shuffled(seed: 9)
        XCTAssertEqual(shuffled.learningRate.sorted(), trace.learningRate.sorted(), "shuffling keeps the values")
        XCTAssertNotEqual(shuffled.learningRate, trace.learningRate)
        XCTAssertThrowsError(try mean.replayEffects(EffectTrace()), "a trace shorter than the run is refused")
    }
}
