import Foundation
import XCTest
import Support
@testable import Engine

/// Context inference over gated sub-networks (issue 12, part 2).
final class ContextInferenceTests: XCTestCase {
    func spec(_ selection: String, boundaries: String, trainLimit: Int = 6000, hidden: Int = 64) throws -> ExperimentSpec {
        try parseSpec(#"{"seed": 0, "data": {"train_limit": \#(trainLimit), "test_limit": 2000}, "protocol": {"kind": "split", "scenario": "class-incremental"}, "model": {"layers": [784, \#(hidden), 10]}, "neuromodulation": {"context": {"gating_keep": 0.5, "inference": "\#(selection)", "boundaries": "\#(boundaries)"}}, "checkpoint_every_steps": 1000000}"#)
    }

    func train(_ spec: ExperimentSpec, stopAt: Int? = nil) throws -> TrainingLoop<MLPFamily> {
        let (train, test) = try FashionMNIST.load()
        let loop = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        let o = RecordingObserver()
        o.stopAt = stopAt
        _ = try loop.run(observer: o)
        return loop
    }

    func average(_ loop: TrainingLoop<MLPFamily>) -> Double { loop.summary().objectValue?["average_accuracy"]?.numberValue ?? -1 }

    /// With protocol boundaries every task trains its own context; choosing the context of the
    /// input's task (oracle) recovers task-incremental accuracy, a random context does not.
    func testOracleEntropyAndRandomSelection() throws {
        let oracle = try train(try spec("oracle", boundaries: "protocol"))
        let contexts = try XCTUnwrap(oracle.family.contexts)
        XCTAssertEqual(contexts.used, 5)
        XCTAssertEqual(contexts.contextOfTask, [0: 0, 1: 1, 2: 2, 3: 3, 4: 4])
        XCTAssertEqual(contexts.groups[2], (0..<10).map { $0 == 4 || $0 == 5 }, "context 2's output group: the classes of task 2")
        XCTAssertEqual(contexts.lastSelectionAccuracy, 1)
        XCTAssertGreaterThan(average(oracle), 0.9)
        let random = try train(try spec("random", boundaries: "protocol"))
        XCTAssertLessThan(average(random), 0.35)
        XCTAssertEqual(random.family.contexts?.lastSelectionAccuracy ?? 0, 0.2, accuracy: 0.05, "one context in five")
        let entropy = try train(try spec("entropy", boundaries: "protocol"))
        XCTAssertGreaterThan(average(entropy), average(random))
        XCTAssertGreaterThan(entropy.family.contexts?.lastSelectionAccuracy ?? 0, 0.25)
        // Served, a context-inference model chooses each image's context as the run scored it.
        let model = try InferenceModel(checkpoint: entropy.checkpoint())
        XCTAssertFalse(model.requiresTask)
        let data = try FashionMNIST.load()
        for j in [0, 3] {
            let task = entropy.tasks[j]
            let images = task.testIndices.map { i in Array(UnsafeBufferPointer(start: data.test.inputs.pointer + Int(i) * 784, count: 784)) }
            let p = try model.predict(images)
            let correct = zip(p, task.testIndices).filter { row, i in (row.indices.max { row[$0] < row[$1] } ?? -1) == Int(data.test.labels[Int(i)]) }.count
            XCTAssertEqual(Double(correct) / Double(images.count), entropy.family.evaluate(task: j).accuracy, accuracy: 1e-12, "task \(j)")
            let told = try model.predict(Array(images.prefix(50)), task: j)
            let toldCorrect = zip(told, task.testIndices.prefix(50)).filter { row, i in (row.indices.max { row[$0] < row[$1] } ?? -1) == Int(data.test.labels[Int(i)]) }.count
            XCTAssertGreaterThan(toldCorrect, 40, "given the task, the model uses that task's context")
        }
        // Bit-for-bit resume with its context state.
        let first = try train(try spec("entropy", boundaries: "protocol"), stopAt: entropy.schedule.taskStart[2] + 3)
        let resumed = TrainingLoop<MLPFamily>(spec: try spec("entropy", boundaries: "protocol"), train: data.train, test: data.test)
        try resumed.restore(from: first.checkpoint())
        _ = try resumed.run(observer: RecordingObserver())
        XCTAssertEqual(resumed.family.contexts, entropy.family.contexts)
        XCTAssertEqual(resumed.accuracyMatrix, entropy.accuracyMatrix)
    }

    /// Task-free: the noradrenergic surprise detector opens exactly one new context at each switch
    /// of task, and a context's gated-off hidden units keep their incoming weights while it trains.
    func testSurpriseOpensOneContextPerSwitchAndGatesHold() throws {
        let s = try spec("entropy", boundaries: "detected", trainLimit: 60000, hidden: 32)
        let (train, test) = try FashionMNIST.load()
        let loop = TrainingLoop<MLPFamily>(spec: s, train: train, test: test)
        let before = loop.model.weights[0].array
        let o = RecordingObserver()
        o.stopAt = loop.schedule.taskStart[1] - 1
        _ = try loop.run(observer: o)
        let mask = try XCTUnwrap(ContextGating.unitMasks(spec: s, task: 0)[0]).array
        let after = loop.model.weights[0].array
        for unit in 0..<32 where mask[unit] == 0 {
            XCTAssertEqual((0..<784).map { after[$0 * 32 + unit] }, (0..<784).map { before[$0 * 32 + unit] }, "unit \(unit) is gated off in context 0")
        }
        let trained = (0..<32).filter { unit in mask[unit] == 1 && (0..<784).contains { after[$0 * 32 + unit] != before[$0 * 32 + unit] } }
        XCTAssertFalse(trained.isEmpty, "the context's own units learn")
        XCTAssertEqual(loop.family.contexts?.used, 1, "no spurious context within the first task")
        _ = try loop.run(observer: o)
        o.stopAt = nil
        _ = try loop.run(observer: o)
        let contexts = try XCTUnwrap(loop.family.contexts)
        let boundaries = o.metrics.filter { $0.key == "context.boundary" }.map(\.step)
        XCTAssertEqual(boundaries.count, 4, "one surprise per switch: \(boundaries) vs task starts \(loop.schedule.taskStart)")
        for (k, step) in boundaries.enumerated() {
            XCTAssertEqual(step - 1, loop.schedule.taskStart[k + 1], "switch \(k + 1) detected on the new task's first batch")
        }
        XCTAssertEqual(contexts.used, 5)
        XCTAssertEqual(contexts.contextOfTask, [0: 0, 1: 1, 2: 2, 3: 3, 4: 4])
        // The surprise is judged before the batch trains: the batch that reveals a switch trains
        // the new context, so no context's output group holds another task's classes.
        for c in 0..<5 {
            XCTAssertEqual(contexts.groups[c], (0..<10).map { $0 / 2 == c }, "context \(c) holds exactly task \(c)'s classes")
        }
    }

    /// Selection `memory`: an associative sparse-code memory recalls each input's context; it
    /// chooses better than the heads' entropy, is served the same way, and resumes bit for bit.
    func testMemoryRecallsContexts() throws {
        let s = try spec("memory", boundaries: "detected", trainLimit: 30000, hidden: 32)
        let memory = try train(s)
        let contexts = try XCTUnwrap(memory.family.contexts)
        XCTAssertEqual(contexts.used, 5)
        let entropy = try train(try spec("entropy", boundaries: "detected", trainLimit: 30000, hidden: 32))
        let (m, e) = (contexts.lastSelectionAccuracy ?? 0, entropy.family.contexts?.lastSelectionAccuracy ?? 1)
        XCTAssertGreaterThan(m, e + 0.1, "memory recall \(m) vs entropy \(e)")
        XCTAssertGreaterThan(average(memory), average(entropy) + 0.1)
        let checkpoint = try memory.checkpoint()
        let model = try InferenceModel(checkpoint: checkpoint)
        let data = try FashionMNIST.load()
        for j in [1, 4] {
            let task = memory.tasks[j]
            let images = task.testIndices.map { i in Array(UnsafeBufferPointer(start: data.test.inputs.pointer + Int(i) * 784, count: 784)) }
            let p = try model.predict(images)
            let correct = zip(p, task.testIndices).filter { row, i in (row.indices.max { row[$0] < row[$1] } ?? -1) == Int(data.test.labels[Int(i)]) }.count
            XCTAssertEqual(Double(correct) / Double(images.count), memory.family.evaluate(task: j).accuracy, accuracy: 1e-12, "served task \(j)")
        }
        let first = try train(s, stopAt: memory.schedule.taskStart[3] + 7)
        let resumed = TrainingLoop<MLPFamily>(spec: s, train: data.train, test: data.test)
        try resumed.restore(from: first.checkpoint())
        _ = try resumed.run(observer: RecordingObserver())
        XCTAssertEqual(resumed.family.contextMemory?.readout.array, memory.family.contextMemory?.readout.array)
        XCTAssertEqual(resumed.accuracyMatrix, memory.accuracyMatrix)
    }

    func testSpecRules() throws {
        XCTAssertThrowsError(try parseSpec(#"{"model": {"layers": [784, 8, 10]}, "protocol": {"kind": "split", "scenario": "class-incremental"}, "neuromodulation": {"context": {"inference": "entropy"}}}"#), "needs gating_keep")
        XCTAssertThrowsError(try parseSpec(#"{"model": {"layers": [784, 8, 10]}, "neuromodulation": {"context": {"gating_keep": 0.5, "inference": "entropy"}}}"#), "needs a task sequence")
        XCTAssertThrowsError(try parseSpec(#"{"model": {"layers": [784, 8, 10]}, "protocol": {"kind": "split", "scenario": "class-incremental"}, "neuromodulation": {"context": {"gating_keep": 0.5}}}"#), "gating without inference still needs the task identity")
        XCTAssertNoThrow(try spec("oracle", boundaries: "both"))
        XCTAssertThrowsError(try parseSpec(#"{"model": {"layers": [784, 8, 10]}, "protocol": {"kind": "split", "scenario": "class-incremental"}, "neuromodulation": {"context": {"gating_keep": 0.5, "inference": "entropy", "memory_units": 500}}}"#), "memory_units sizes the memory only") { error in
            XCTAssertEqual((error as? SpecError)?.field, "neuromodulation.context.memory_units")
        }
        XCTAssertThrowsError(try parseSpec(#"{"model": {"layers": [784, 8, 10]}, "protocol": {"kind": "split", "scenario": "class-incremental"}, "neuromodulation": {"context": {"gating_keep": 0.5, "inference": "memory", "memory_units": 10}}}"#), "at least 50 units")
        XCTAssertEqual(try parseSpec(#"{"model": {"layers": [784, 8, 10]}, "protocol": {"kind": "split", "scenario": "class-incremental"}, "neuromodulation": {"context": {"gating_keep": 0.5, "inference": "memory", "memory_units": 500}}}"#).neuromodulation.context.memoryUnits, 500)
    }
}
