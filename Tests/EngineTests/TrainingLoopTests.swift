import Support
import XCTest
@testable import Engine

/// The one training loop, the checkpoint codec and the family registry.
final class TrainingLoopTests: XCTestCase {
    func testScheduleLocatesTasksEpochsAndSteps() {
        let s = TrainingSchedule(stepsPerEpoch: [3, 2], epochsPerTask: 2)
        XCTAssertEqual(s.totalSteps, 10)
        XCTAssertEqual(s.taskStart, [0, 6])
        let positions = (0..<10).map { s.locate($0) }.map { [$0.task, $0.epoch, $0.batch] }
        XCTAssertEqual(positions, [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 1, 0], [0, 1, 1], [0, 1, 2],
                                   [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1]])
        XCTAssertEqual(TrainingSchedule.single(steps: 7).locate(6), .init(task: 0, epoch: 0, batch: 6))
    }

    /// The loop reports window metrics at its cadence, epoch ends and task ends in order, and
    /// checkpoints at its cadence, at the end and wherever the selection metric is reported.
    func testCadenceOfMetricsAndCheckpoints() throws {
        let spec = try parseSpec(#"{"seed": 2, "data": {"train_limit": 1000, "test_limit": 200}, "protocol": {"kind": "permuted", "tasks": 2, "epochs_per_task": 2}, "model": {"layers": [784, 16, 10]}, "optimizer": {"batch_size": 100}, "metrics_every_steps": 4, "checkpoint_every_steps": 7}"#)
        let (train, test) = try FashionMNIST.load()
        let loop = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        let o = RecordingObserver()
        XCTAssertEqual(try loop.run(observer: o), .completed)
        XCTAssertEqual(loop.totalSteps, 40)
        XCTAssertEqual(o.metrics.filter { $0.key == "train.loss" }.map(\.step), [4, 8, 12, 16, 20, 24, 28, 32, 36, 40])
        XCTAssertEqual(o.metrics.filter { $0.key == "continual.average_accuracy" }.map(\.step), [20, 40], "a task ends every 20 steps")
        XCTAssertEqual(o.checkpoints.map(\.step), [7, 14, 20, 21, 28, 35, 40], "cadence, task ends (scored), the end")
        guard case .object(let s) = loop.summary() else { return XCTFail() }
        XCTAssertEqual(s["steps"], .number(40))
        XCTAssertEqual(s["total_steps"], .number(40))
    }

    /// Every piece of trainer state is a named `state.*` value under a versioned header; nothing
    /// is positional.
    func testCheckpointHeaderIsNamedAndVersioned() throws {
        let spec = try parseSpec(#"{"seed": 1, "data": {"train_limit": 640, "test_limit": 100}, "protocol": {"kind": "split"}, "model": {"layers": [784, 16, 10]}, "optimizer": {"kind": "adam"}, "consolidation": {"kind": "si", "strength": 1}, "neuromodulation": {"dopamine": {"targets": {"learning_rate": 0.5}}}, "checkpoint_every_steps": 1000}"#)
        let (train, test) = try FashionMNIST.load()
        let loop = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        let o = RecordingObserver()
        o.stopAt = 5
        _ = try loop.run(observer: o)
        let file = try Safetensors.decode(loop.checkpoint(extraMetadata: ["run_id": "r1"]))
        let meta = file.metadata
        XCTAssertEqual(meta["format"], "neuromod.checkpoint")
        XCTAssertEqual(meta["format_version"], "2")
        XCTAssertEqual(meta["family"], "mlp")
        XCTAssertEqual(meta["step"], "5")
        XCTAssertEqual(meta["run_id"], "r1")
        XCTAssertEqual(meta["spec_hash"], spec.hash)
        let state = Set(meta.keys.filter { $0.hasPrefix("state.") })
        XCTAssertEqual(state, ["state.loop.sums", "state.loop.samples_seen", "state.loop.training_seconds", "state.optimizer.t",
                               "state.consolidation.tasks_consolidated", "state.accuracy_matrix", "state.initial_accuracy",
                               "state.final_test", "state.neuromodulators"])
        XCTAssertNil(meta["running_sums"])
        let sums = try JSONDecoder().decode(MetricSums.self, from: Data(meta["state.loop.sums"]!.utf8))
        let seen = try JSONDecoder().decode(Int.self, from: Data(meta["state.loop.samples_seen"]!.utf8))
        XCTAssertEqual(sums.run["seen"], Double(seen), "named sums")
        XCTAssertNotNil(file.tensors["optimizer.layers.0.weight.m"])
        XCTAssertNotNil(file.tensors["consolidation.layers.0.weight.omega"])
        XCTAssertEqual(file.tensors["layers.0.weight"]?.shape, [784, 16])
    }

    /// A checkpoint of an earlier format is refused naming its format and version; a missing or
    /// malformed piece of state is refused naming it.
    func testEarlierFormatsAndMissingStateAreRefusedByName() throws {
        let spec = try parseSpec(#"{"seed": 1, "data": {"train_limit": 640, "test_limit": 100}, "model": {"layers": [784, 16, 10]}, "checkpoint_every_steps": 1000}"#)
        let (train, test) = try FashionMNIST.load()
        let loop = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        let good = try Safetensors.decode(loop.checkpoint())
        func refusal(_ edit: (inout Safetensors.File) -> Void) -> CheckpointError? {
            var f = good
            edit(&f)
            do {
                try TrainingLoop<MLPFamily>(spec: spec, train: train, test: test).restore(from: Safetensors.encode(f))
                return nil
            } catch { return error as? CheckpointError }
        }
        let old = try XCTUnwrap(refusal { $0.metadata = ["format": "neuromod.mlp/1", "step": "0", "spec_hash": spec.hash] })
        XCTAssertTrue(old.isUnsupportedFormat)
        XCTAssertTrue(old.description.contains("format neuromod.mlp version 1"), old.description)
        let newer = try XCTUnwrap(refusal { $0.metadata["format_version"] = "3" })
        XCTAssertTrue(newer.isUnsupportedFormat)
        XCTAssertTrue(newer.description.contains("version 3"), newer.description)
        let missing = try XCTUnwrap(refusal { $0.metadata["state.neuromodulators"] = nil })
        XCTAssertFalse(missing.isUnsupportedFormat)
        XCTAssertTrue(missing.description.contains("neuromodulators"), missing.description)
        let malformed = try XCTUnwrap(refusal { $0.metadata["state.loop.sums"] = "[1, 2, 3]" })
        XCTAssertTrue(malformed.description.contains("loop.sums"), malformed.description)
        let family = try XCTUnwrap(refusal { $0.metadata["family"] = "snn" })
        XCTAssertTrue(family.description.contains("family snn"), family.description)
        XCTAssertNil(refusal { _ in }, "the unedited checkpoint restores")
    }

    func testRegistrySelectsOneFamilyPerSpec() throws {
        let cases: [(String, String)] = [
            (#"{"model": {"layers": [784, 8, 10]}}"#, "mlp"),
            (#"{"model": {"kind": "snn", "layers": [784, 8, 10]}}"#, "snn"),
            (#"{"protocol": {"kind": "bandit"}}"#, "reward"),
            (#"{"protocol": {"kind": "reversal"}, "model": {"layers": [4, 8, 2]}}"#, "reward"),
            (#"{"protocol": {"kind": "distal_reward"}}"#, "rstdp"),
            (#"{"model": {"kind": "slda", "layers": [784, 10]}, "protocol": {"kind": "split", "scenario": "class-incremental"}}"#, "slda"),
            (#"{"model": {"kind": "sparse", "layers": [784, 100, 10]}, "protocol": {"kind": "split", "scenario": "class-incremental"}}"#, "sparse"),
        ]
        for (text, kind) in cases {
            let spec = try parseSpec(text)
            XCTAssertEqual(FamilyRegistry.family(for: spec)?.kind, kind, text)
            XCTAssertEqual(FamilyRegistry.families.filter { $0.accepts(spec) }.first?.kind, kind)
        }
        XCTAssertEqual(Set(FamilyRegistry.families.map(\.kind)).count, FamilyRegistry.families.count, "kinds are unique")
    }

    /// A permuted-protocol model served with a task sees that task's permutation, as in training.
    func testPermutedModelsApplyTheTaskPermutationWhenServed() throws {
        let spec = try parseSpec(#"{"seed": 4, "data": {"train_limit": 1000, "test_limit": 200}, "protocol": {"kind": "permuted", "tasks": 3}, "model": {"layers": [784, 32, 10]}, "checkpoint_every_steps": 1000}"#)
        let (train, test) = try FashionMNIST.load()
        let loop = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        _ = try loop.run(observer: RecordingObserver())
        let model = try InferenceModel(checkpoint: loop.checkpoint())
        XCTAssertEqual(model.taskCount, 3)
        XCTAssertFalse(model.requiresTask)
        let images = (0..<20).map { r in Array(UnsafeBufferPointer(start: test.inputs.pointer + r * 784, count: 784)) }
        let perm = try XCTUnwrap(TaskSequence.permutation(spec: spec, task: 2, features: 784))
        let permuted = images.map { x in perm.map { x[Int($0)] } }
        let viaTask = try model.predict(images, task: 2)
        let byHand = try model.predict(permuted, task: 0)
        XCTAssertEqual(viaTask, byHand, "task 2 = the raw network on task 2's permuted pixels")
        XCTAssertNotEqual(viaTask, try model.predict(images), "without a task the pixels are fed as given")
        XCTAssertEqual(try model.predict(images), try model.predict(images, task: 0))
        XCTAssertThrowsError(try model.predict(images, task: 3))
        // And the served answers are the trained network's: task 2's accuracy as evaluated in training.
        let labels = (0..<20).map { Int(test.labels[$0]) }
        let correct = zip(viaTask, labels).filter { p, y in p.indices.max { p[$0] < p[$1] } == y }.count
        XCTAssertGreaterThan(correct, 8, "better than chance on task 2")
    }

    /// A recurrent spiking checkpoint serves through its recurrent weights.
    func testRecurrentSpikingCheckpointsServeWithTheirRecurrence() throws {
        let spec = try parseSpec(#"{"seed": 3, "data": {"train_limit": 256, "test_limit": 64}, "model": {"kind": "snn", "layers": [784, 32, 10], "snn": {"steps": 8, "recurrent": true}}, "optimizer": {"batch_size": 64}, "checkpoint_every_steps": 1000}"#)
        let (train, test) = try FashionMNIST.load()
        let loop = TrainingLoop<SpikingFamily>(spec: spec, train: train, test: test)
        _ = try loop.run(observer: RecordingObserver())
        let data = loop.checkpoint()
        var file = try Safetensors.decode(data)
        let recurrent = try XCTUnwrap(file.tensors["layers.0.recurrent"])
        XCTAssertEqual(recurrent.values.count, 32 * 32)
        XCTAssertTrue(recurrent.values.contains { $0 != 0 })
        let images = (0..<16).map { r in Array(UnsafeBufferPointer(start: test.inputs.pointer + r * 784, count: 784)) }
        let served = try InferenceModel(checkpoint: data).predict(images)
        XCTAssertEqual(try InferenceModel(checkpoint: data).predict(images), served, "deterministic")
        file.tensors["layers.0.recurrent"] = .init(shape: recurrent.shape, values: recurrent.values.map { _ in 0 })
        XCTAssertNotEqual(try InferenceModel(checkpoint: Safetensors.encode(file)).predict(images), served,
                          "the recurrent weights take part in the served forward pass")
        file.tensors["layers.0.recurrent"] = nil
        XCTAssertThrowsError(try InferenceModel(checkpoint: Safetensors.encode(file)), "a recurrent net without its recurrent weights is refused")
    }
}
