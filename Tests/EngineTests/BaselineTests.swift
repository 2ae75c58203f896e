import Foundation
import XCTest
import Support
@testable import Engine

/// The reference points a reviewer asks for: a validation split, the labels trick, joint training,
/// and forward transfer reported as undefined where it is.
final class BaselineTests: XCTestCase {
    func split(_ scenario: String, _ extra: String = "", data: String = "") throws -> ExperimentSpec {
        try parseSpec(#"{"seed": 4, "data": {"train_limit": 3000, "test_limit": 1000\#(data)}, "protocol": {"kind": "split", "scenario": "\#(scenario)"\#(extra)}, "model": {"layers": [784, 32, \#(scenario == "domain-incremental" ? 2 : 10)]}, "checkpoint_every_steps": 1000000}"#)
    }

    func train(_ spec: ExperimentSpec, stopAt: Int? = nil) throws -> (TrainingLoop<MLPFamily>, RecordingObserver) {
        let (train, test) = try FashionMNIST.load()
        let loop = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        let o = RecordingObserver()
        o.stopAt = stopAt
        _ = try loop.run(observer: o)
        return (loop, o)
    }

    func testValidationSplitIsHeldOutScoredAndSelectsCheckpoints() throws {
        let spec = try split("domain-incremental", data: #", "validation": 0.2"#)
        let (loop, o) = try train(spec)
        for task in loop.tasks {
            XCTAssertTrue(Set(task.trainIndices).isDisjoint(with: task.validationIndices), "held out, not trained on")
            let all = task.trainIndices.count + task.validationIndices.count
            XCTAssertEqual(Double(task.validationIndices.count), Double(all) * 0.2, accuracy: 1)
        }
        XCTAssertEqual(loop.selectionMetric, "continual.val_average_accuracy")
        XCTAssertEqual(o.metrics.filter { $0.key == "continual.val_average_accuracy" }.count, 5)
        XCTAssertEqual(o.metrics.filter { $0.key.hasSuffix(".val_accuracy") }.count, 25)
        guard case .object(let s) = loop.summary(), case .number(let v)? = s["val_average_accuracy"] else { return XCTFail() }
        XCTAssertGreaterThan(v, 0.6)
        XCTAssertEqual(s["val_accuracy_matrix"]?.arrayValue?.count, 5)
        // Without a validation split nothing changes: the training set is the same as before.
        let plain = try train(try split("domain-incremental")).0
        XCTAssertTrue(plain.tasks.allSatisfy { $0.validationIndices.isEmpty })
        XCTAssertEqual(plain.selectionMetric, "continual.average_accuracy")
        XCTAssertGreaterThan(plain.tasks[0].trainIndices.count, loop.tasks[0].trainIndices.count)
        // Resumed mid-run, the validation scores continue bit for bit.
        let (first, _) = try train(spec, stopAt: loop.schedule.taskStart[2] + 3)
        let data = try FashionMNIST.load()
        let resumed = TrainingLoop<MLPFamily>(spec: spec, train: data.train, test: data.test)
        try resumed.restore(from: first.checkpoint())
        _ = try resumed.run(observer: RecordingObserver())
        XCTAssertEqual(resumed.validationMatrix, loop.validationMatrix)
        XCTAssertEqual(resumed.accuracyMatrix, loop.accuracyMatrix)
        XCTAssertThrowsError(try parseSpec(#"{"model": {"layers": [784, 8, 10]}, "data": {"validation": 0.7}}"#))
        XCTAssertNoThrow(try parseSpec(#"{"model": {"kind": "snn", "layers": [784, 8, 10]}, "data": {"validation": 0.1}}"#), "spiking runs hold one out too")
    }

    /// The labels trick: while a task trains, the softmax runs over its own classes, so the output
    /// units of earlier tasks' classes receive no gradient.
    func testLabelsTrickLeavesOtherClassesOutputsAlone() throws {
        let spec = try split("class-incremental", #", "labels_trick": true"#)
        let data = try FashionMNIST.load()
        let loop = TrainingLoop<MLPFamily>(spec: spec, train: data.train, test: data.test)
        let o = RecordingObserver()
        o.stopAt = loop.schedule.taskStart[1]
        _ = try loop.run(observer: o)
        let hidden = 32
        func outputColumn(_ c: Int) -> [Float] { (0..<hidden).map { loop.model.weights[1].pointer[$0 * 10 + c] } }
        let before = (0..<10).map(outputColumn)
        o.stopAt = loop.schedule.taskStart[2]
        _ = try loop.run(observer: o)
        XCTAssertEqual(outputColumn(0), before[0], "class 0's output is untouched while task 1 (classes 2, 3) trains")
        XCTAssertEqual(outputColumn(1), before[1])
        XCTAssertNotEqual(outputColumn(2), before[2])
        XCTAssertEqual(outputColumn(9), before[9], "nor are later tasks' outputs")
        _ = try loop.run(observer: RecordingObserver())
        guard case .object(let s) = loop.summary(), case .number(let trick)? = s["average_accuracy"] else { return XCTFail() }
        let (plain, _) = try train(try split("class-incremental"))
        guard case .object(let p) = plain.summary(), case .number(let none)? = p["average_accuracy"] else { return XCTFail() }
        XCTAssertGreaterThan(trick, none, "the labels trick keeps more of the earlier classes (\(trick) vs \(none))")
        XCTAssertThrowsError(try split("domain-incremental", #", "labels_trick": true"#))
    }

    func testJointTrainingIsOneTaskOfEveryImageScoredPerTask() throws {
        let spec = try split("class-incremental", #", "joint": true"#)
        let (loop, o) = try train(spec)
        let sequential = try split("class-incremental")
        let (seq, _) = try train(sequential)
        XCTAssertEqual(loop.schedule.taskCount, 1)
        XCTAssertEqual(loop.trainingTasks[0].trainIndices.count, seq.tasks.reduce(0) { $0 + $1.trainIndices.count }, "the same images")
        XCTAssertEqual(loop.accuracyMatrix.count, 1)
        XCTAssertEqual(loop.accuracyMatrix[0].count, 5)
        guard case .object(let s) = loop.summary(), case .number(let joint)? = s["average_accuracy"],
              case .object(let q) = seq.summary(), case .number(let sequentialAccuracy)? = q["average_accuracy"] else { return XCTFail() }
        XCTAssertEqual(joint, loop.accuracyMatrix[0].reduce(0, +) / 5, accuracy: 1e-12)
        XCTAssertEqual(s["backward_transfer"], .null)
        XCTAssertGreaterThan(joint, sequentialAccuracy + 0.3, "the upper bound: \(joint) vs \(sequentialAccuracy)")
        XCTAssertEqual(o.metrics.filter { $0.key == "continual.average_accuracy" }.map(\.value), [joint])
        XCTAssertThrowsError(try split("task-incremental", #", "joint": true"#))
    }

    func testForwardTransferIsUndefinedInTheClassIncrementalScenario() throws {
        let (loop, _) = try train(try split("class-incremental"))
        guard case .object(let s) = loop.summary() else { return XCTFail() }
        XCTAssertEqual(s["forward_transfer"], .null)
        let (domain, _) = try train(try split("domain-incremental"))
        guard case .object(let d) = domain.summary() else { return XCTFail() }
        XCTAssertNotNil(d["forward_transfer"]?.numberValue)
    }
}
