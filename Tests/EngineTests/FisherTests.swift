import Foundation
import XCTest
@testable import Engine

final class FisherTests: XCTestCase {
    /// The exact Fisher Σ_c p(c|x)·(∂ log p(c|x)/∂θ)² of a tiny network against a brute-force sum of
    /// central finite differences of log p(c|x) over every weight and bias, sample and class.
    func testExpectedFisherMatchesBruteForce() throws {
        var rng = RandomSource(seed: 11)
        let model = MLP(sizes: [4, 3, 3], activation: .tanh, rng: &rng)
        let batch = 2
        let inputs: [Float] = [0.3, -0.7, 0.5, 0.1, -0.2, 0.9, 0.4, -0.6]
        func load() {
            let x = model.inputBuffer(batch: batch)
            for i in inputs.indices { x[i] = inputs[i] }
        }
        load()
        let fw = (0..<2).map { FloatBuffer(count: model.sizes[$0] * model.sizes[$0 + 1]) }
        let fb = (0..<2).map { FloatBuffer(count: model.sizes[$0 + 1]) }
        model.accumulateExpectedFisher(batch: batch, fisherW: fw, fisherB: fb)

        func logProbabilities() -> [Double] {
            load()
            let p = model.forward(batch: batch)
            return (0..<(batch * 3)).map { Foundation.log(Double(p[$0])) }
        }
        let base = logProbabilities().map(Foundation.exp)
        let eps: Float = 1e-2
        var worst = 0.0, largest = 0.0
        for (buffers, computed) in [(model.weights, fw), (model.biases, fb)] {
            for l in 0..<2 {
                for i in 0..<buffers[l].count {
                    let keep = buffers[l].pointer[i]
                    buffers[l].pointer[i] = keep + eps
                    let up = logProbabilities()
                    buffers[l].pointer[i] = keep - eps
                    let down = logProbabilities()
                    buffers[l].pointer[i] = keep
                    var fisher = 0.0
                    for k in 0..<(batch * 3) {
                        let g = (up[k] - down[k]) / Double(2 * eps)
                        fisher += base[k] * g * g
                    }
                    worst = max(worst, abs(Double(computed[l].pointer[i]) - fisher))
                    largest = max(largest, fisher)
                }
            }
        }
        XCTAssertGreaterThan(largest, 1e-3, "a Fisher worth checking")
        XCTAssertLessThan(worst, 2e-3 * max(largest, 1), "worst difference \(worst), largest entry \(largest)")
    }

    /// The exact and the empirical Fisher differ (the empirical one uses the observed label only).
    func testExactIsTheDefaultAndDiffersFromEmpirical() throws {
        func spec(_ fisher: String) throws -> ExperimentSpec {
            try parseSpec(#"{"seed": 1, "data": {"train_limit": 640, "test_limit": 100}, "protocol": {"kind": "split", "scenario": "class-incremental"}, "model": {"layers": [784, 16, 10]}, "consolidation": {"kind": "ewc"\#(fisher)}, "checkpoint_every_steps": 1000}"#)
        }
        XCTAssertEqual(try spec("").consolidation.fisher, .exact)
        XCTAssertEqual(try spec("").consolidation.fisherSamples, 60_000, "all of a task's images")
        XCTAssertEqual(try spec(#", "fisher": "empirical""#).consolidation.fisherSamples, 1000)
        XCTAssertThrowsError(try parseSpec(#"{"model": {"layers": [784, 8, 10]}, "protocol": {"kind": "split"}, "consolidation": {"kind": "si", "fisher": "exact"}}"#))
        let (train, test) = try FashionMNIST.load()
        let exact = TrainingLoop<MLPFamily>(spec: try spec(""), train: train, test: test)
        let empirical = TrainingLoop<MLPFamily>(spec: try spec(#", "fisher": "empirical""#), train: train, test: test)
        let a = exact.family.fisher(task: 0), b = empirical.family.fisher(task: 0)
        XCTAssertNotEqual(a.w[0].array, b.w[0].array)
        XCTAssertGreaterThan(a.w[1].array.reduce(0, +), 0)
    }

    /// Estimating a task's Fisher does not train the modulatory gate (its backward pass learns).
    func testFisherEstimationLeavesTheGateUntouched() throws {
        let spec = try parseSpec(#"{"seed": 1, "data": {"train_limit": 640, "test_limit": 100}, "protocol": {"kind": "split", "scenario": "domain-incremental"}, "model": {"layers": [784, 16, 2]}, "consolidation": {"kind": "ewc"}, "neuromodulation": {"modulatory_gate": {}}, "checkpoint_every_steps": 1000}"#)
        let (train, test) = try FashionMNIST.load()
        let loop = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
        let gate = try XCTUnwrap(loop.model.gate)
        loop.model.gateLearningRate = 0.5
        let before = gate.weights.array
        _ = loop.family.fisher(task: 0)
        XCTAssertEqual(gate.weights.array, before)
        XCTAssertEqual(loop.model.gateLearningRate, 0.5, "restored for training")
    }
}
