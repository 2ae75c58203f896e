import Support
import XCTest
@testable import Engine

func parseSpec(_ text: String) throws -> ExperimentSpec {
    try ExperimentSpec.parse(XCTUnwrap(JSONValue.parse(Data(text.utf8))))
}

final class NeuromodulationTests: XCTestCase {
    /// Backpropagation through gain, threshold, unit masks, output masks and temperature matches
    /// finite differences.
    func testModulatedGradientsMatchFiniteDifferences() throws {
        var rng = RandomSource(seed: 21)
        for useMask in [true, false] { for activation in ExperimentSpec.Activation.allCases {
            let sizes = [5, 6, 4]
            let model = MLP(sizes: sizes, activation: activation, rng: &rng)
            var m = Modulation()
            m.gain = 1.7
            m.threshold = 0.15
            m.unitMasks = useMask ? [FloatBuffer([1, 0, 1, 1, 0, 1])] : []
            m.allowedOutputs = [true, false, true, true]
            m.temperature = 1.8
            model.modulation = m
            let batch = 5
            let inputs = (0..<(batch * 5)).map { _ in Float(rng.uniform()) }
            let labels: [Int32] = [0, 2, 3, 0, 2]
            func loss() -> Double {
                let x = model.inputBuffer(batch: batch)
                for i in 0..<inputs.count { x[i] = inputs[i] }
                return labels.withUnsafeBufferPointer { model.forwardStatistics(batch: batch, labels: $0.baseAddress!).loss } / Double(batch)
            }
            var numeric: [(Int, Int, Double)] = []
            for l in 0..<2 {
                for i in [0, 1, 4, 9, 13] {
                    let w = model.weights[l]
                    let old = w[i]
                    let h: Float = 1e-2
                    w[i] = old + h; let up = loss()
                    w[i] = old - h; let down = loss()
                    w[i] = old
                    numeric.append((l, i, (up - down) / Double(2 * h)))
                }
            }
            let before = model.weights.map(\.array)
            let lr: Float = 1e-3
            let opt = Optimizer(spec: .init(kind: .sgd, learningRate: Double(lr), batchSize: batch, beta1: 0.9, beta2: 0.999, epsilon: 1e-8), sizes: sizes)
            _ = loss()
            labels.withUnsafeBufferPointer { model.backwardAndUpdate(batch: batch, labels: $0.baseAddress!, optimizer: opt) }
            for (l, i, g) in numeric {
                let analytic = Double(before[l][i] - model.weights[l][i]) / Double(lr)
                XCTAssertEqual(analytic, g, accuracy: 3e-3 + 0.03 * abs(g), "\(activation) mask \(useMask) layer \(l) weight \(i)")
            }
        } }
    }

    /// The input-driven gate network's weights and the gated layer's weights get the gradients
    /// finite differences give.
    func testModulatoryGateGradientsMatchFiniteDifferences() throws {
        var rng = RandomSource(seed: 31)
        for activation in ExperimentSpec.Activation.allCases {
            let sizes = [5, 6, 3]
            let model = MLP(sizes: sizes, activation: activation, rng: &rng)
            model.gate = ModulatoryGate(inputs: 5, units: 6, biasInit: 0.5, rng: &rng)
            let batch = 4
            let inputs = (0..<(batch * 5)).map { _ in Float(rng.uniform()) }
            let labels: [Int32] = [0, 2, 1, 0]
            func loss() -> Double {
                let x = model.inputBuffer(batch: batch)
                for i in 0..<inputs.count { x[i] = inputs[i] }
                return labels.withUnsafeBufferPointer { model.forwardStatistics(batch: batch, labels: $0.baseAddress!).loss } / Double(batch)
            }
            func numeric(_ buffer: FloatBuffer, _ i: Int) -> Double {
                let old = buffer[i]
                let h: Float = 1e-2
                buffer[i] = old + h; let up = loss()
                buffer[i] = old - h; let down = loss()
                buffer[i] = old
                return (up - down) / Double(2 * h)
            }
            let probes: [(FloatBuffer, Int)] = [(model.gate!.weights, 0), (model.gate!.weights, 7), (model.gate!.bias, 2),
                                                (model.weights[0], 3), (model.weights[0], 11), (model.weights[1], 4)]
            let expected = probes.map { numeric($0.0, $0.1) }
            let before = probes.map { $0.0[$0.1] }
            let lr: Float = 1e-3
            let opt = Optimizer(spec: .init(kind: .sgd, learningRate: Double(lr), batchSize: batch, beta1: 0.9, beta2: 0.999, epsilon: 1e-8), sizes: sizes)
            model.gateLearningRate = lr
            _ = loss()
            labels.withUnsafeBufferPointer { model.backwardAndUpdate(batch: batch, labels: $0.baseAddress!, optimizer: opt) }
            for (k, (buffer, i)) in probes.enumerated() {
                let analytic = Double(before[k] - buffer[i]) / Double(lr)
                XCTAssertEqual(analytic, expected[k], accuracy: 3e-3 + 0.03 * abs(expected[k]), "\(activation) probe \(k)")
            }
        }
    }

    /// Phasic noradrenaline: a loss spike (as at a task switch) raises the learning-rate factor.
    func testSurpriseSpikeRaisesLearningRate() throws {
        let spec = try parseSpec(#"{"protocol": {"kind": "split"}, "model": {"layers": [784, 10, 10]},"#
            + #""neuromodulation": {"noradrenaline": {"signal": "surprise", "targets": {"learning_rate": 0.5}}}}"#)
        let nm = NeuromodulatorSystem(spec: spec.neuromodulation)
        var g = RandomSource(seed: 1)
        var calm: [Double] = []
        for i in 0..<300 {
            nm.observe(loss: 0.3 + 0.01 * g.normal(), entropy: 0.2)
            if i >= 200 { calm.append(nm.effects.learningRate) }
        }
        XCTAssertLessThan(calm.reduce(0, +) / 100, 1.6, "without surprises the factor stays near 1")
        nm.observe(loss: 2.0, entropy: 0.9)
        XCTAssertGreaterThan(nm.effects.learningRate, 5, "surprise z is large, factor exp(0.5·5) clamped ≤ 10")
        XCTAssertLessThanOrEqual(nm.effects.learningRate, 10)
        let window = nm.drainWindow(step: 301)
        XCTAssertTrue(window.contains { $0.key == "nm.noradrenaline.surprise" })
        XCTAssertTrue(window.contains { $0.key == "nm.effect.learning_rate" })
    }

    func testSignalsOfEachModulator() throws {
        let spec = try parseSpec(#"{"protocol": {"kind": "split"}, "model": {"layers": [784, 10, 10]}, "neuromodulation": {"#
            + #""dopamine": {"targets": {"learning_rate": 1}, "tau_slow": 50},"#
            + #""noradrenaline": [{"signal": "utility_decline", "targets": {"temperature": 2}, "tau_fast": 5, "tau_slow": 100}],"#
            + #""acetylcholine": {"targets": {"gain": -0.5}},"#
            + #""serotonin": {"targets": {"threshold": 0.4}, "tau_patience": 100}}}"#)
        let nm = NeuromodulatorSystem(spec: spec.neuromodulation)
        for _ in 0..<200 { nm.observe(loss: 1.0, entropy: 0.8) }
        // Falling loss: dopamine (improvement) > 0 raises the learning rate.
        for _ in 0..<5 { nm.observe(loss: 0.5, entropy: 0.8) }
        XCTAssertGreaterThan(nm.effects.learningRate, 1.3)
        // ACh: high entropy with a negative gain coupling lowers the gain.
        XCTAssertLessThan(nm.effects.gain, 0.8)
        // 5-HT: stability grows with time since the last change; threshold follows.
        XCTAssertGreaterThan(nm.effects.threshold, 0.3)
        nm.protocolBoundary()
        nm.observe(loss: 0.5, entropy: 0.8)
        XCTAssertLessThan(nm.effects.threshold, 0.01, "a task boundary resets serotonin's patience clock")
        // Rising loss: tonic NA (utility decline) raises the temperature.
        for _ in 0..<10 { nm.observe(loss: 2.0, entropy: 0.8) }
        XCTAssertGreaterThan(nm.effects.temperature, 1.5)
    }

    /// A channel with `layers` scales only those layers' learning rate.
    func testPerLayerLearningRate() throws {
        let (train, test) = try FashionMNIST.load()
        func run(_ nm: String) throws -> TrainingLoop<MLPFamily> {
            let spec = try parseSpec(#"{"seed": 1, "data": {"train_limit": 640, "test_limit": 100}, "model": {"layers": [784, 16, 10]}, "checkpoint_every_steps": 100000, "neuromodulation": "# + nm + "}")
            let t = TrainingLoop<MLPFamily>(spec: spec, train: train, test: test)
            _ = try t.run(observer: RecordingObserver())
            return t
        }
        let plain = try run(#"{"context": {"boundaries": "protocol"}}"#)
        // Acetylcholine (entropy > 0) with a huge negative coupling nearly freezes layer 0 only.
        let frozen0 = try run(#"{"acetylcholine": {"targets": {"learning_rate": -10}, "clamp_min": 0.0001, "layers": [0]}}"#)
        var rng = RandomSource(seed: 1, stream: 1)
        let initial = MLP(sizes: [784, 16, 10], activation: .relu, rng: &rng)
        func distance(_ a: FloatBuffer, _ b: FloatBuffer) -> Float { zip(a.array, b.array).map { abs($0 - $1) }.reduce(0, +) }
        XCTAssertLessThan(distance(frozen0.model.weights[0], initial.weights[0]), 0.05 * distance(plain.model.weights[0], initial.weights[0]))
        XCTAssertGreaterThan(distance(frozen0.model.weights[1], initial.weights[1]), 0.3 * distance(plain.model.weights[1], initial.weights[1]))
    }

    func testDetectedBoundaryFromSurpriseSpike() throws {
        let spec = try parseSpec(#"{"protocol": {"kind": "split"}, "model": {"layers": [784, 10, 10]}, "#
            + #""neuromodulation": {"context": {"boundaries": "detected", "surprise_threshold": 4, "min_gap": 20}}}"#)
        let nm = NeuromodulatorSystem(spec: spec.neuromodulation)
        var g = RandomSource(seed: 2)
        var detected = 0
        for _ in 0..<300 { if nm.observe(loss: 0.3 + 0.01 * g.normal(), entropy: 0.1) { detected += 1 } }
        XCTAssertEqual(detected, 0)
        XCTAssertTrue(nm.observe(loss: 2.5, entropy: 0.9))
        XCTAssertEqual(nm.stepsSinceChange, 0)
    }

    func testEWCPenaltyGrowsWithFisher() throws {
        var rng = RandomSource(seed: 3)
        let model = MLP(sizes: [4, 3, 2], activation: .relu, rng: &rng)
        func penalty(fisherScale: Float) -> Double {
            let c = Consolidator(spec: .init(kind: .ewc, strength: 10, gamma: 1, damping: 0.1, fisherSamples: 1), sizes: [4, 3, 2])
            let fw = [FloatBuffer(count: 12), FloatBuffer(count: 6)], fb = [FloatBuffer(count: 3), FloatBuffer(count: 2)]
            for b in fw + fb { b.fill(fisherScale) }
            let saved = model.weights[0].array
            c.endTask(model, fisher: (fw, fb))
            model.weights[0][0] += 0.5    // move one weight away from the anchor
            defer { for i in 0..<saved.count { model.weights[0][i] = saved[i] } }
            return c.penalty(model)
        }
        let small = penalty(fisherScale: 0.1), large = penalty(fisherScale: 1.0)
        XCTAssertEqual(small, 0.5 * 10 * 0.1 * 0.25, accuracy: 1e-6)
        XCTAssertEqual(large / small, 10, accuracy: 1e-3)
    }

    func testContinualMetrics() {
        let r = [[0.9, 0.2, 0.1], [0.6, 0.8, 0.3], [0.5, 0.7, 0.9]]
        let m = ContinualMetrics(matrix: r, initial: [0.1, 0.1, 0.1])
        XCTAssertEqual(m.averageAccuracy, (0.5 + 0.7 + 0.9) / 3, accuracy: 1e-12)
        XCTAssertEqual(m.backwardTransfer, ((0.5 - 0.9) + (0.7 - 0.8)) / 2, accuracy: 1e-12)
        XCTAssertEqual(m.forwardTransfer, ((0.2 - 0.1) + (0.3 - 0.1)) / 2, accuracy: 1e-12)
        XCTAssertEqual(m.forgetting, ((0.9 - 0.5) + (0.8 - 0.7)) / 2, accuracy: 1e-12)
    }

    func testSpecValidationOfTheNewSections() {
        func field(_ json: String) -> String? {
            do { _ = try parseSpec(json); return nil } catch let e as SpecError { return e.field } catch { return "?" }
        }
        XCTAssertEqual(field(#"{"protocol": {"kind": "split", "scenario": "task"}, "model": {"layers": [784, 10]}}"#), "protocol.scenario")
        XCTAssertEqual(field(#"{"protocol": {"kind": "split", "scenario": "domain-incremental"}, "model": {"layers": [784, 10]}}"#), "model.layers[1]")
        XCTAssertNil(field(#"{"protocol": {"kind": "split", "scenario": "domain-incremental"}, "model": {"layers": [784, 2]}}"#))
        XCTAssertEqual(field(#"{"model": {"layers": [784, 10]}, "consolidation": {"kind": "ewc"}}"#), "consolidation.kind")
        XCTAssertEqual(field(#"{"protocol": {"kind": "permuted"}, "model": {"layers": [784, 10]}, "consolidation": {"kind": "l2"}}"#), "consolidation.kind")
        XCTAssertEqual(field(#"{"model": {"layers": [784, 10]}, "neuromodulation": {"dopamine": {"targets": {"speed": 1}}}}"#), "neuromodulation.dopamine.targets.speed")
        XCTAssertEqual(field(#"{"model": {"layers": [784, 10]}, "neuromodulation": {"dopamine": {"signal": "surprise", "targets": {"gain": 1}}}}"#), "neuromodulation.dopamine.signal")
        XCTAssertEqual(field(#"{"model": {"layers": [784, 10]}, "neuromodulation": {"noradrenaline": [{"targets": {"gain": 1}}, {"targets": {}}]}}"#), "neuromodulation.noradrenaline[1].targets")
        XCTAssertEqual(field(#"{"model": {"layers": [784, 10]}, "neuromodulation": {"dopamine": {"targets": {"gain": 11}}}}"#), "neuromodulation.dopamine.targets.gain")
        XCTAssertEqual(field(#"{"model": {"layers": [784, 10]}, "neuromodulation": {"dopamine": {"signal": "rpe", "targets": {"gain": 1}}}}"#), "neuromodulation.dopamine.signal")
        XCTAssertEqual(field(#"{"protocol": {"kind": "bandit"}, "model": {"layers": [1, 2]}}"#), "model")
        XCTAssertNil(field(#"{"protocol": {"kind": "bandit", "arms": 5}}"#))
        XCTAssertEqual(field(#"{"protocol": {"kind": "reversal", "stimuli": 4}, "model": {"layers": [784, 2]}}"#), "model.layers[0]")
        XCTAssertEqual(field(#"{"protocol": {"kind": "reversal", "stimuli": 3}, "model": {"layers": [3, 2]}}"#), "protocol.stimuli")
        XCTAssertEqual(field(#"{"protocol": {"kind": "reversal"}, "model": {"layers": [4, 8, 2]}, "optimizer": {"batch_size": 4}}"#), "optimizer.batch_size")
        XCTAssertEqual(field(#"{"model": {"layers": [784, 10]}, "neuromodulation": {"context": {"gating_keep": 0.5}}}"#), "neuromodulation.context.gating_keep")
        XCTAssertEqual(field(#"{"protocol": {"kind": "split", "scenario": "class-incremental"}, "model": {"layers": [784, 10]}, "neuromodulation": {"context": {"gating_keep": 0.5}}}"#), "neuromodulation.context.gating_keep")
        XCTAssertNil(field(#"{"protocol": {"kind": "split"}, "model": {"layers": [784, 10]}, "neuromodulation": {"context": {"gating_keep": 0.5}}}"#))
    }
}
