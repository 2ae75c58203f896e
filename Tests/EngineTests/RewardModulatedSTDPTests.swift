import XCTest
@testable import Engine

final class RewardModulatedSTDPTests: XCTestCase {
    /// Izhikevich's distal-reward experiment: 50 Poisson inputs drive one sparsely firing (~4% of
    /// steps) leaky neuron. Whenever
    /// input 0 fires and the neuron fires within the next 5 steps, a reward arrives 20–40 steps
    /// later — after many unrelated spikes. Only the synapse that caused the rewarded pairings grows.
    func testOnlyTheSynapseThatCausedADelayedRewardGrows() {
        var rng = RandomSource(seed: 7)
        let n = 50
        let w = FloatBuffer([Float](repeating: 1.0, count: n))
        let rule = RewardModulatedSTDP(pre: n, post: 1, weights: w)
        var u: Float = 0
        var pending: [Int] = []          // steps at which rewards are due
        var lastInput0 = -1000
        var rewards = 0
        for t in 0..<60_000 {
            var pre = [Float](repeating: 0, count: n)
            for i in 0..<n where rng.uniform() < 0.01 { pre[i] = 1 }
            var drive: Float = 0
            for i in 0..<n where pre[i] == 1 { drive += w[i] }
            u = 0.9 * u + drive
            let spike: Float = u > 6 ? 1 : 0
            if spike == 1 { u = 0 }
            if pre[0] == 1 { lastInput0 = t }
            if spike == 1 && t - lastInput0 >= 1 && t - lastInput0 <= 5 && pending.count < 4 {
                pending.append(t + 20 + rng.below(21))
                lastInput0 = -1000
            }
            var reward = 0.0
            if let first = pending.first, first == t {
                reward = 0.5
                rewards += 1
                pending.removeFirst()
            }
            rule.step(preSpikes: pre, postSpikes: [spike], reward: reward)
        }
        let others = (1..<n).map { w[$0] }
        let mean = others.reduce(0, +) / Float(others.count)
        XCTAssertGreaterThan(rewards, 50, "the causal pairing happened and was rewarded")
        XCTAssertGreaterThan(w[0], mean + 1.0, "the rewarded synapse grew: w0 \(w[0]) vs others \(mean)")
        XCTAssertEqual((0..<n).max { w[$0] < w[$1] }, 0, "it is the strongest synapse")
        XCTAssertLessThan(mean, 1.5, "the other synapses did not grow alike (they started at 1.0)")
    }

    func testNoDopamineNoWeightChange() {
        var rng = RandomSource(seed: 8)
        let w = FloatBuffer([Float](repeating: 0.5, count: 10))
        let rule = RewardModulatedSTDP(pre: 10, post: 1, weights: w)
        for _ in 0..<2000 {
            let pre = (0..<10).map { _ in Float(rng.uniform() < 0.1 ? 1 : 0) }
            rule.step(preSpikes: pre, postSpikes: [Float(rng.uniform() < 0.1 ? 1 : 0)], reward: 0)
        }
        XCTAssertEqual(w.array, [Float](repeating: 0.5, count: 10), "STDP alone only builds eligibility")
        XCTAssertGreaterThan(rule.eligibility.array.map(abs).max()!, 0)
    }
}

final class DistalRewardTaskTests: XCTestCase {
    func testTheRunSpecTaskLearnsTheCausalSynapseAndResumesBitForBit() throws {
        let text = #"{"seed": 7, "protocol": {"kind": "distal_reward", "trials": 60000}, "metrics_every_steps": 1000}"#
        let spec = try parseSpec(text)
        let full = TrainingLoop<DistalRewardFamily>(spec: spec)
        let o = RecordingObserver()
        _ = try full.run(observer: o)
        guard case .object(let s) = full.summary() else { return XCTFail() }
        XCTAssertEqual(s["causal_weight_rank"]?.numberValue, 1)
        XCTAssertGreaterThan((s["causal_weight"]?.numberValue ?? 0) - (s["other_weight_mean"]?.numberValue ?? 0), 1)
        XCTAssertGreaterThan(s["rewards"]?.numberValue ?? 0, 50)
        let first = TrainingLoop<DistalRewardFamily>(spec: spec)
        let stopper = RecordingObserver()
        stopper.stopAt = 23_456
        _ = try first.run(observer: stopper)
        let resumed = TrainingLoop<DistalRewardFamily>(spec: spec)
        try resumed.restore(from: first.checkpoint())
        let rest = RecordingObserver()
        _ = try resumed.run(observer: rest)
        XCTAssertEqual(resumed.rule.weights.array, full.rule.weights.array)
        XCTAssertEqual(stopper.metrics + rest.metrics, o.metrics)
        XCTAssertThrowsError(try parseSpec(#"{"protocol": {"kind": "distal_reward"}, "model": {"layers": [50, 1]}}"#))
        XCTAssertThrowsError(try parseSpec(#"{"rstdp": {"a_plus": 1}, "model": {"layers": [784, 10]}}"#))
    }

    /// A neuromodulatory gain pulse multiplies plasticity while it lasts: factor 0 over the first
    /// half freezes the weights there, factor 3 makes the causal synapse grow faster than without.
    func testGainPulsesMultiplyPlasticityWhileTheyLast() throws {
        func run(_ pulses: String) throws -> (weightAt: [Int: Double], gain: [Int: Double]) {
            let spec = try parseSpec(#"{"seed": 7, "protocol": {"kind": "distal_reward", "trials": 20000}, "metrics_every_steps": 1000, "rstdp": {"gain_pulses": "# + pulses + "}}")
            let o = RecordingObserver()
            _ = try TrainingLoop<DistalRewardFamily>(spec: spec).run(observer: o)
            var w: [Int: Double] = [:], g: [Int: Double] = [:]
            for m in o.metrics where m.key == "rstdp.causal_weight" { w[m.step] = m.value }
            for m in o.metrics where m.key == "rstdp.plasticity_gain" { g[m.step] = m.value }
            return (w, g)
        }
        let base = try run("[]")
        let frozen = try run(#"[{"start": 0, "duration": 10000, "factor": 0}]"#)
        let boosted = try run(#"[{"start": 0, "duration": 10000, "factor": 3}]"#)
        XCTAssertEqual(frozen.weightAt[10000], 1.0, "no plasticity during a factor-0 pulse")
        XCTAssertEqual(frozen.gain[5000], 0)
        XCTAssertEqual(frozen.gain[15000], 1, "the pulse ended")
        XCTAssertGreaterThan(boosted.weightAt[10000]!, base.weightAt[10000]! + 0.3,
                             "the boosted run learned faster: \(boosted.weightAt[10000]!) vs \(base.weightAt[10000]!)")
        XCTAssertThrowsError(try parseSpec(#"{"protocol": {"kind": "distal_reward"}, "rstdp": {"gain_pulses": [{"start": 0, "duration": 0, "factor": 2}]}}"#)) { error in
            XCTAssertEqual((error as? SpecError)?.field, "rstdp.gain_pulses[0].duration")
        }
    }
}
