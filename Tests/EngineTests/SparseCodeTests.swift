import Foundation
import XCTest
import Support
@testable import Engine

/// Dopamine-gated sparse plasticity (issue 12, part 2).
final class SparseCodeTests: XCTestCase {
    func spec(_ dopamine: String, trainLimit: Int = 3000) throws -> ExperimentSpec {
        try parseSpec(#"{"seed": 1, "data": {"train_limit": \#(trainLimit), "test_limit": 1000}, "protocol": {"kind": "split", "scenario": "class-incremental"}, "model": {"kind": "sparse", "layers": [784, 400, 10], "sparse": {"active": 0.05, "dopamine": "\#(dopamine)"}}, "checkpoint_every_steps": 1000000}"#)
    }

    /// The code is k-of-n binary, and an update touches only the synapses from active units to the
    /// correct class — by lr × (1 − p(correct)) under dopamine gating, by lr without.
    func testUpdatesTouchOnlyActiveUnitsOfTheCorrectClass() throws {
        let s = try spec("rpe")
        let (train, _) = try FashionMNIST.load()
        let net = SparseCode(inputs: 784, units: 400, classes: 10, spec: s.model.sparse!, seed: 1)
        XCTAssertEqual(net.k, 20)
        let code = net.code(train.inputs.pointer, count: 3)
        XCTAssertTrue(code.allSatisfy { $0.count == 20 && Set($0).count == 20 })
        XCTAssertNotEqual(code[0], code[1])
        XCTAssertEqual(net.code(train.inputs.pointer, count: 1)[0], code[0], "deterministic")
        let before = net.readout.array
        let p = net.probabilities(code[0])
        let outcome = net.learn(code[0], label: 3, rate: 0.5)
        XCTAssertEqual(outcome.dopamine, Double(1 - p[3]), accuracy: 1e-6)
        let after = net.readout.array
        for u in 0..<400 { for c in 0..<10 {
            let changed = after[u * 10 + c] != before[u * 10 + c]
            XCTAssertEqual(changed, c == 3 && code[0].contains(u), "unit \(u) class \(c)")
            if changed { XCTAssertEqual(after[u * 10 + c] - before[u * 10 + c], Float(0.5 * outcome.dopamine), accuracy: 1e-6) }
        } }
        // Learning drives the class's probability up, so dopamine falls.
        let second = net.learn(code[0], label: 3, rate: 0.5)
        XCTAssertLessThan(second.dopamine, outcome.dopamine)
        var constantSpec = s.model.sparse!
        constantSpec.dopamine = "constant"
        let plain = SparseCode(inputs: 784, units: 400, classes: 10, spec: constantSpec, seed: 1)
        XCTAssertEqual(plain.learn(code[0], label: 3, rate: 0.5).dopamine, 1)
        XCTAssertEqual(plain.learn(code[0], label: 3, rate: 0.5).dopamine, 1, "no prediction error: a fixed increment")
    }

    /// Task-free class-incremental learning: resumes bit for bit and is served as it evaluates.
    func testClassIncrementalRunResumesAndServes() throws {
        let s = try spec("constant")
        let (train, test) = try FashionMNIST.load()
        let full = TrainingLoop<SparseFamily>(spec: s, train: train, test: test)
        _ = try full.run(observer: RecordingObserver())
        let average = full.summary().objectValue?["average_accuracy"]?.numberValue ?? 0
        XCTAssertGreaterThan(average, 0.35, "sparse associative learning keeps earlier classes: \(average)")
        let first = TrainingLoop<SparseFamily>(spec: s, train: train, test: test)
        let stop = RecordingObserver()
        stop.stopAt = first.schedule.taskStart[2] + 4
        _ = try first.run(observer: stop)
        let resumed = TrainingLoop<SparseFamily>(spec: s, train: train, test: test)
        try resumed.restore(from: first.checkpoint())
        _ = try resumed.run(observer: RecordingObserver())
        XCTAssertEqual(resumed.network.readout.array, full.network.readout.array)
        XCTAssertEqual(resumed.family.continual.accuracyMatrix, full.family.continual.accuracyMatrix)
        let model = try InferenceModel(checkpoint: full.checkpoint())
        let images = (0..<20).map { r in Array(UnsafeBufferPointer(start: test.inputs.pointer + r * 784, count: 784)) }
        let served = try model.predict(images)
        let expected = images.map { image in image.withUnsafeBufferPointer { full.network.probabilities(full.network.code($0.baseAddress!, count: 1)[0]) } }
        XCTAssertEqual(served, expected)
        XCTAssertThrowsError(try parseSpec(#"{"model": {"kind": "sparse", "layers": [784, 10]}}"#))
        XCTAssertThrowsError(try parseSpec(#"{"model": {"kind": "sparse", "layers": [784, 100, 10], "sparse": {"dopamine": "maybe"}}}"#))
    }
}
