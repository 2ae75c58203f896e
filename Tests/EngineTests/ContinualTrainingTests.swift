import Support
import XCTest
@testable import Engine

final class ContinualTrainingTests: XCTestCase {
    func run(_ spec: ExperimentSpec, stopAt: Int? = nil) throws -> (TrainingLoop<MLPFamily>, RecordingObserver) {
        let (train, test) = try FashionMNIST.load()
        let trainer = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        let o = RecordingObserver()
        o.stopAt = stopAt
        _ = try trainer.run(observer: o)
        return (trainer, o)
    }

    func split(_ scenario: String, extra: String = "", out: Int = 10) throws -> ExperimentSpec {
        try parseSpec("""
            {"seed": 3, "data": {"train_limit": 5000, "test_limit": 1000},
             "protocol": {"kind": "split", "scenario": "\(scenario)"}, "model": {"layers": [784, 64, \(out)]},
             "optimizer": {"learning_rate": 0.05}, "checkpoint_every_steps": 1000000 \(extra)}
            """)
    }

    func testSplitScenariosProduceTheAccuracyMatrixAndTransferMeasures() throws {
        for (scenario, out) in [("task-incremental", 10), ("domain-incremental", 2), ("class-incremental", 10)] {
            let (trainer, o) = try run(try split(scenario, out: out))
            XCTAssertEqual(trainer.tasks.count, 5)
            XCTAssertEqual(trainer.accuracyMatrix.count, 5)
            XCTAssertEqual(trainer.accuracyMatrix.map(\.count), [5, 5, 5, 5, 5])
            // Each task is learned when it is trained.
            for j in 0..<5 { XCTAssertGreaterThan(trainer.accuracyMatrix[j][j], 0.7, "\(scenario) task \(j)") }
            guard case .object(let s) = trainer.summary() else { return XCTFail() }
            XCTAssertEqual(s["complete"], .bool(true))
            let bwt = try XCTUnwrap(s["backward_transfer"]?.numberValue)
            if scenario == "class-incremental" {
                // Plain SGD in the class-incremental scenario forgets almost everything.
                XCTAssertLessThan(bwt, -0.5, "\(scenario)")
            }
            XCTAssertEqual(o.metrics.filter { $0.key == "continual.tasks_done" }.map(\.value), [1, 2, 3, 4, 5])
            XCTAssertEqual(o.metrics.filter { $0.key == "task.0.accuracy" }.count, 5)
        }
    }

    func testTaskIncrementalMasksOtherHeads() throws {
        let (trainer, _) = try run(try split("task-incremental"))
        // With the softmax limited to the task's two classes, chance is 50% and old tasks stay far above it.
        XCTAssertGreaterThan(trainer.accuracyMatrix[4][0], 0.6)
        XCTAssertEqual(trainer.initialAccuracy.count, 5)
    }

    /// Context gating: training task 0 leaves the weights of units outside its gate untouched.
    func testGateMasksActivityAndGradients() throws {
        let spec = try split("task-incremental", extra: #", "neuromodulation": {"context": {"gating_keep": 0.25}}"#)
        let (train, test) = try FashionMNIST.load()
        let trainer = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        let w1 = trainer.model.weights[0].array, w2 = trainer.model.weights[1].array
        let o = RecordingObserver()
        o.stopAt = trainer.schedule.taskStart[1]   // only task 0
        _ = try trainer.run(observer: o)
        let gate = try XCTUnwrap(trainer.gates[0][0]).array
        XCTAssertEqual(gate.filter { $0 == 1 }.count, 16)
        let after1 = trainer.model.weights[0].array, after2 = trainer.model.weights[1].array
        for unit in 0..<64 {
            let inChanged = (0..<784).contains { after1[$0 * 64 + unit] != w1[$0 * 64 + unit] }
            let outChanged = (0..<10).contains { after2[unit * 10 + $0] != w2[unit * 10 + $0] }
            XCTAssertEqual(inChanged, gate[unit] == 1, "unit \(unit) incoming weights")
            XCTAssertEqual(outChanged, gate[unit] == 1, "unit \(unit) outgoing weights")
        }
        XCTAssertNotEqual(trainer.gates[0][0]!.array, trainer.gates[1][0]!.array, "each task has its own gate")
    }

    /// On domain-incremental split Fashion-MNIST plain SGD forgets; EWC, online EWC and SI forget less.
    func testConsolidationReducesForgetting() throws {
        func domain(_ consolidation: String) throws -> ExperimentSpec {
            try parseSpec("""
                {"seed": 1, "data": {"train_limit": 6000, "test_limit": 1000}, "protocol": {"kind": "split", "scenario": "domain-incremental"},
                 "model": {"layers": [784, 64, 2]}, "checkpoint_every_steps": 1000000, "metrics_every_steps": 10 \(consolidation)}
                """)
        }
        func bwt(_ t: TrainingLoop<MLPFamily>) -> Double { ContinualMetrics(matrix: t.accuracyMatrix, initial: t.initialAccuracy).backwardTransfer }
        let (plain, _) = try run(try domain(""))
        XCTAssertLessThan(bwt(plain), -0.08, "the baseline forgets")
        for kind in ["ewc", "online_ewc", "si"] {
            let (t, o) = try run(try domain(#", "consolidation": {"kind": "\#(kind)"}"#))
            XCTAssertGreaterThan(bwt(t), bwt(plain) + 0.04, "\(kind) forgets less: \(bwt(t)) vs \(bwt(plain))")
            XCTAssertEqual(t.consolidator.tasksConsolidated, 5)
            let penalties = o.metrics.filter { $0.key == "consolidation.penalty" }.map(\.value)
            XCTAssertFalse(penalties.isEmpty)
            XCTAssertTrue(penalties.allSatisfy { $0 >= 0 && $0.isFinite })
            XCTAssertGreaterThan(penalties.max()!, 0)
        }
    }

    /// The modulatory gate learns, is logged, and round-trips through checkpoints.
    func testModulatoryGateTrainsAndResumes() throws {
        let spec = try split("domain-incremental", extra: #", "metrics_every_steps": 10, "neuromodulation": {"modulatory_gate": {"bias_init": 2}}"#, out: 2)
        let (trainer, o) = try run(spec)
        XCTAssertGreaterThan(trainer.accuracyMatrix[4][4], 0.8)
        let means = o.metrics.filter { $0.key == "gate.mean" }.map(\.value)
        XCTAssertFalse(means.isEmpty)
        XCTAssertTrue(means.allSatisfy { $0 > 0 && $0 < 1 })
        XCTAssertNotEqual(means.first, means.last, "the gates change as the network learns")
        let (train, test) = try FashionMNIST.load()
        let first = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        let stopper = RecordingObserver()
        stopper.stopAt = 100
        _ = try first.run(observer: stopper)
        let resumed = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        try resumed.restore(from: first.checkpoint())
        _ = try resumed.run(observer: RecordingObserver())
        XCTAssertEqual(resumed.model.gate!.weights.array, trainer.model.gate!.weights.array)
        XCTAssertEqual(resumed.model.weights[0].array, trainer.model.weights[0].array)
    }

    /// A task switch makes the loss spike: phasic noradrenaline raises the learning rate right then.
    func testNoradrenalineRaisesLearningRateAfterATaskSwitch() throws {
        let spec = try split("class-incremental", extra: #", "metrics_every_steps": 1, "neuromodulation": {"noradrenaline": {"signal": "surprise", "targets": {"learning_rate": 0.4}}}"#)
        let (trainer, o) = try run(spec)
        let lr = Dictionary(uniqueKeysWithValues: o.metrics.filter { $0.key == "nm.effect.learning_rate" }.map { ($0.step, $0.value) })
        let switchStep = trainer.schedule.taskStart[1]
        let before = (switchStep - 5..<switchStep).compactMap { lr[$0] }
        let after = (switchStep + 1...switchStep + 3).compactMap { lr[$0] }
        XCTAssertEqual(before.count, 5)
        XCTAssertLessThan(before.reduce(0, +) / 5, 1.5)
        XCTAssertGreaterThan(after.max()!, 3, "learning rate after the switch: \(after)")
    }

    /// Stopping mid-task and resuming in a fresh trainer gives exactly the uninterrupted run, with
    /// every mechanism on: task sequence, SI, neuromodulators, gating.
    func testContinualResumeIsBitForBit() throws {
        let spec = try split("task-incremental", extra: """
            , "metrics_every_steps": 7, "consolidation": {"kind": "si", "strength": 1},
            "neuromodulation": {"dopamine": {"targets": {"learning_rate": 0.5}},
              "noradrenaline": [{"signal": "surprise", "targets": {"gain": 0.1}}, {"signal": "utility_decline", "targets": {"temperature": 0.5}}],
              "acetylcholine": {"targets": {"threshold": 0.05}}, "serotonin": {"targets": {"consolidation": 1}},
              "context": {"gating_keep": 0.5, "boundaries": "both"}}
            """)
        let (reference, refObs) = try run(spec)
        let (train, test) = try FashionMNIST.load()
        let first = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        let stopper = RecordingObserver()
        stopper.stopAt = first.schedule.taskStart[2] + 5
        XCTAssertEqual(try first.run(observer: stopper), .stopped)
        let resumed = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        try resumed.restore(from: first.checkpoint())
        let rest = RecordingObserver()
        XCTAssertEqual(try resumed.run(observer: rest), .completed)
        for l in 0..<2 { XCTAssertEqual(reference.model.weights[l].array, resumed.model.weights[l].array) }
        XCTAssertEqual(reference.accuracyMatrix, resumed.accuracyMatrix)
        let keep: (MetricSample) -> Bool = { $0.key != "train.samples_per_s" }
        XCTAssertEqual((stopper.metrics + rest.metrics).filter(keep), refObs.metrics.filter(keep))
    }
}

final class RewardTaskTests: XCTestCase {
    func run(_ text: String, stopAt: Int? = nil) throws -> (TrainingLoop<RewardFamily>, RecordingObserver) {
        let t = TrainingLoop<RewardFamily>(spec: try parseSpec(text))
        let o = RecordingObserver()
        o.stopAt = stopAt
        _ = try t.run(observer: o)
        return (t, o)
    }

    func testBanditLearnsAndReadaptsAfterChanges() throws {
        let (t, o) = try run(#"{"seed": 1, "protocol": {"kind": "bandit", "arms": 5, "trials": 3000, "change_every": 300}, "checkpoint_every_steps": 100000}"#)
        guard case .object(let s) = t.summary() else { return XCTFail() }
        let optimal = try XCTUnwrap(s["optimal_choice_rate"]?.numberValue)
        XCTAssertGreaterThan(optimal, 0.4, "twice chance (0.2) or better")
        XCTAssertEqual(s["changes"]?.numberValue, 9)
        guard case .object(let ttc)? = s["trials_to_criterion"] else { return XCTFail() }
        XCTAssertGreaterThan(ttc["values"]?.arrayValue?.count ?? 0, 4, "criterion is reached again after most changes")
        let regret = o.metrics.filter { $0.key == "regret.cumulative" }.map(\.value)
        XCTAssertEqual(regret, regret.sorted(), "cumulative regret never decreases")
        XCTAssertLessThan(regret.last!, 3000 * 0.3, "far below a random chooser's regret")
    }

    func testReversalLearningWithPerseverationAfterEachReversal() throws {
        let (t, _) = try run(#"{"seed": 2, "protocol": {"kind": "reversal", "trials": 2000, "reverse_every": 250}, "model": {"layers": [4, 16, 2]}, "checkpoint_every_steps": 100000}"#)
        guard case .object(let s) = t.summary() else { return XCTFail() }
        XCTAssertGreaterThan(s["correct_rate"]?.numberValue ?? 0, 0.65, "chance is 0.5")
        XCTAssertEqual(s["changes"]?.numberValue, 7)
        guard case .object(let ttc)? = s["trials_to_criterion"], case .object(let pe)? = s["perseverative_errors"] else { return XCTFail() }
        XCTAssertGreaterThanOrEqual(ttc["values"]?.arrayValue?.count ?? 0, 5)
        XCTAssertGreaterThan(pe["total"]?.numberValue ?? 0, 0, "after a reversal the old rule persists for a while")
    }

    func testDopamineAndNoradrenalineModulateRewardLearning() throws {
        let (_, o) = try run(#"{"seed": 3, "protocol": {"kind": "bandit", "trials": 1000, "change_every": 200}, "metrics_every_steps": 1, "checkpoint_every_steps": 100000, "neuromodulation": {"dopamine": {"targets": {"learning_rate": 0.5}}, "noradrenaline": {"signal": "utility_decline", "targets": {"temperature": 2}}}}"#)
        let lr = o.metrics.filter { $0.key == "nm.effect.learning_rate" }.map(\.value)
        XCTAssertGreaterThan(lr.max()!, 1.3, "positive RPEs raise plasticity")
        XCTAssertLessThan(lr.min()!, 0.8, "negative RPEs lower it")
        let rpe = o.metrics.filter { $0.key == "nm.dopamine.rpe" }.map(\.value)
        XCTAssertTrue(rpe.contains { $0 > 0 } && rpe.contains { $0 < 0 })
        XCTAssertGreaterThan(o.metrics.filter { $0.key == "nm.effect.temperature" }.map(\.value).max()!, 1.2)
    }

    func testRewardTasksResumeBitForBit() throws {
        for text in [#"{"seed": 5, "protocol": {"kind": "bandit", "trials": 600, "change_every": 100, "change": "drift"}, "metrics_every_steps": 9, "neuromodulation": {"dopamine": {"targets": {"learning_rate": 0.5}}, "noradrenaline": {"targets": {"temperature": 0.5}}}}"#,
                     #"{"seed": 6, "protocol": {"kind": "reversal", "trials": 600, "reverse_every": 100}, "model": {"layers": [4, 8, 2]}, "optimizer": {"kind": "adam", "learning_rate": 0.05}, "metrics_every_steps": 9, "neuromodulation": {"serotonin": {"targets": {"learning_rate": -1}}}}"#] {
            let (ref, refObs) = try run(text)
            let spec = try parseSpec(text)
            let first = TrainingLoop<RewardFamily>(spec: spec)
            let stopper = RecordingObserver()
            stopper.stopAt = 333
            XCTAssertEqual(try first.run(observer: stopper), .stopped)
            let resumed = TrainingLoop<RewardFamily>(spec: spec)
            try resumed.restore(from: first.checkpoint())
            let rest = RecordingObserver()
            _ = try resumed.run(observer: rest)
            // Every summary field but the wall-clock rate is state.
            func state(_ s: JSONValue) -> [String: JSONValue] { (s.objectValue ?? [:]).filter { $0.key != "train_samples_per_s" } }
            XCTAssertEqual(state(ref.summary()), state(resumed.summary()))
            XCTAssertEqual(stopper.metrics + rest.metrics, refObs.metrics)
        }
    }
}
