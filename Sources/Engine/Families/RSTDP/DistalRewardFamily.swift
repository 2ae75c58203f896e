import Foundation
import Support

/// Izhikevich's (2007) distal-reward task, learned by reward-modulated STDP: `inputs` Poisson
/// inputs (probability `input_rate` per step) drive one leaky integrate-and-fire neuron
/// (u ← leak·u + Σ w_i·s_i, spike and reset to 0 above `threshold`). When input 0 fires and the
/// neuron fires 1–5 steps later, a reward of `reward` arrives 20–40 steps later (at most 4
/// pending), by which time many unrelated spikes have happened. Only the eligibility trace links
/// the reward to its cause: the synapse from input 0 should grow, the others should not.
/// Scheduled gain pulses (`rstdp.gain_pulses`) multiply plasticity while they last.
public final class DistalRewardFamily: TrainingFamily {
    public static let kind = "rstdp"
    public let spec: ExperimentSpec
    public let schedule: TrainingSchedule
    public let rule: RewardModulatedSTDP
    private var rng: RandomSource

    struct State: Codable, Equatable {
        var membrane: Float = 0
        var pending: [Int] = []
        var lastInput0 = -1000
        var rewards = 0
    }
    private var state = State()


    public init(spec: ExperimentSpec) {
        self.spec = spec
        schedule = .single(steps: spec.protocol.trials)
        let r = spec.rstdp!
        var p = RewardModulatedSTDP.Parameters()
        p.aPlus = r.aPlus; p.aMinus = r.aMinus; p.tauPlus = r.tauPlus; p.tauMinus = r.tauMinus
        p.tauEligibility = r.tauEligibility; p.tauDopamine = r.tauDopamine; p.learningRate = r.learningRate; p.wMax = r.wMax
        let n = spec.protocol.inputs
        rule = RewardModulatedSTDP(pre: n, post: 1, weights: FloatBuffer([Float](repeating: Float(r.initialWeight), count: n)), parameters: p)
        rng = RandomSource(seed: spec.seed, stream: 9500)
    }

    private lazy var pre = [Float](repeating: 0, count: spec.protocol.inputs)

    public func trainStep(_ step: Int, at position: TrainingSchedule.Position, sums: inout MetricSums) -> StepReport {
        let r = spec.rstdp!, n = spec.protocol.inputs, rate = spec.protocol.inputRate
        let w = rule.weights.pointer
        var drive: Float = 0
        for i in 0..<n {
            pre[i] = rng.uniform() < rate ? 1 : 0
            if pre[i] == 1 { drive += w[i] }
        }
        state.membrane = Float(r.leak) * state.membrane + drive
        let spike: Float = state.membrane > Float(r.threshold) ? 1 : 0
        if spike == 1 { state.membrane = 0 }
        if pre[0] == 1 { state.lastInput0 = step }
        if spike == 1 && step - state.lastInput0 >= 1 && step - state.lastInput0 <= 5 && state.pending.count < 4 {
            state.pending.append(step + 20 + rng.below(21))
            state.lastInput0 = -1000
        }
        var reward = 0.0
        if let first = state.pending.first, first == step {
            reward = r.reward
            state.rewards += 1
            state.pending.removeFirst()
        }
        rule.plasticityGain = r.plasticityGain(atStep: step)
        rule.step(preSpikes: pre, postSpikes: [spike], reward: reward)
        sums.add("output_spikes", Double(spike))
        sums.add("steps", 1)
        return StepReport(samples: 1)
    }

    public func windowMetrics(step: Int, sums: MetricSums.Span, elapsed: Double) -> [MetricSample] {
        let w = rule.weights.pointer, n = spec.protocol.inputs
        let others = (1..<n).reduce(Float(0)) { $0 + w[$1] } / Float(n - 1)
        return [
            MetricSample(key: "rstdp.causal_weight", step: step, value: Double(w[0])),
            MetricSample(key: "rstdp.other_weight_mean", step: step, value: Double(others)),
            MetricSample(key: "rstdp.dopamine", step: step, value: rule.dopamine),
            MetricSample(key: "rstdp.plasticity_gain", step: step, value: rule.plasticityGain),
            MetricSample(key: "reward.count", step: step, value: Double(state.rewards)),
            MetricSample(key: "output.rate", step: step, value: sums.ratio("output_spikes", per: "steps")),
        ]
    }

    public var selectionMetric: String? { nil }

    public func summarize(into s: inout [String: JSONValue], sums: MetricSums) {
        let w = rule.weights.array
        let others = w.dropFirst()
        let mean = Double(others.reduce(0, +)) / Double(max(others.count, 1))
        let rank = w.filter { $0 > w[0] }.count + 1
        s["protocol"] = .string("distal_reward")
        s["rewards"] = .number(Double(state.rewards))
        s["output_rate"] = .number(sums.run.ratio("output_spikes", per: "steps"))
        s["causal_weight"] = .number(Double(w[0]))
        s["other_weight_mean"] = .number(mean)
        s["other_weight_max"] = .number(Double(others.max() ?? 0))
        s["causal_weight_rank"] = .number(Double(rank))
    }

    public func save(to w: inout CheckpointWriter) {
        w.tensor("layers.0.weight", rule.weights, shape: [rule.pre, 1])
        w.tensor("rstdp.eligibility", rule.eligibility, shape: [rule.pre, 1])
        let traces = rule.traces
        w.tensor("rstdp.pre_trace", values: traces.pre)
        w.tensor("rstdp.post_trace", values: traces.post)
        w.state("rng", rng)
        w.state("dopamine", rule.dopamine)
        w.state("task", state)
    }

    public func load(from r: CheckpointReader) throws {
        try r.tensor("layers.0.weight", into: rule.weights)
        try r.tensor("rstdp.eligibility", into: rule.eligibility)
        let pre = try r.tensor("rstdp.pre_trace", count: rule.pre)
        let post = try r.tensor("rstdp.post_trace", count: rule.post)
        rng = try r.state("rng")
        state = try r.state("task")
        rule.restore(preTrace: pre, postTrace: post, dopamine: try r.state("dopamine"))
    }
}

extension DistalRewardFamily {
    /// Izhikevich's distal-reward task learned by reward-modulated STDP (protocol `distal_reward`).
    public static let registration = FamilyRegistration(
        kind: kind,
        accepts: { $0.protocol.kind == .distalReward },
        makeSession: { spec, _ in TrainingLoop(DistalRewardFamily(spec: spec)) },
        makeServable: nil)
}

extension TrainingLoop where Family == DistalRewardFamily {
    /// The training session of the family for `spec`.
    public convenience init(spec: ExperimentSpec) { self.init(DistalRewardFamily(spec: spec)) }
}
