import Foundation

/// Izhikevich's (2007) distal-reward task, learned by reward-modulated STDP: `inputs` Poisson
/// inputs (probability `input_rate` per step) drive one leaky integrate-and-fire neuron
/// (u ← leak·u + Σ w_i·s_i, spike and reset to 0 above `threshold`). When input 0 fires and the
/// neuron fires 1–5 steps later, a reward of `reward` arrives 20–40 steps later (at most 4
/// pending), by which time many unrelated spikes have happened. Only the eligibility trace links
/// the reward to its cause: the synapse from input 0 should grow, the others should not.
/// Scheduled gain pulses (`rstdp.gain_pulses`) multiply plasticity while they last.
public final class DistalRewardTrainer: TrainingSession {
    public let spec: ExperimentSpec
    public var totalSteps: Int { spec.protocol.trials }
    public private(set) var step = 0
    public let rule: RewardModulatedSTDP
    private var rng: RandomSource

    struct State: Codable, Equatable {
        var membrane: Float = 0
        var pending: [Int] = []
        var lastInput0 = -1000
        var rewards = 0
        var outputSpikes = 0
        var windowSpikes = 0
        var windowSteps = 0
    }
    private var state = State()

    public static let checkpointFormat = "neuromod.rstdp/1"

    public init(spec: ExperimentSpec) {
        self.spec = spec
        let r = spec.rstdp!
        var p = RewardModulatedSTDP.Parameters()
        p.aPlus = r.aPlus; p.aMinus = r.aMinus; p.tauPlus = r.tauPlus; p.tauMinus = r.tauMinus
        p.tauEligibility = r.tauEligibility; p.tauDopamine = r.tauDopamine; p.learningRate = r.learningRate; p.wMax = r.wMax
        let n = spec.protocol.inputs
        rule = RewardModulatedSTDP(pre: n, post: 1, weights: FloatBuffer([Float](repeating: Float(r.initialWeight), count: n)), parameters: p)
        rng = RandomSource(seed: spec.seed, stream: 9500)
    }

    public func run(observer: TrainingObserver) throws -> TrainingOutcome {
        let r = spec.rstdp!, n = spec.protocol.inputs, rate = spec.protocol.inputRate
        var pre = [Float](repeating: 0, count: n)
        let w = rule.weights.pointer
        while step < totalSteps {
            if observer.sessionShouldStop(self) { return .stopped }
            var drive: Float = 0
            for i in 0..<n {
                pre[i] = rng.uniform() < rate ? 1 : 0
                if pre[i] == 1 { drive += w[i] }
            }
            state.membrane = Float(r.leak) * state.membrane + drive
            let spike: Float = state.membrane > Float(r.threshold) ? 1 : 0
            if spike == 1 { state.membrane = 0; state.outputSpikes += 1; state.windowSpikes += 1 }
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
            step += 1
            state.windowSteps += 1
            if step % spec.metricsEverySteps == 0 || step == totalSteps {
                let others = (1..<n).reduce(Float(0)) { $0 + w[$1] } / Float(n - 1)
                observer.session(self, emitted: [
                    MetricSample(key: "rstdp.causal_weight", step: step, value: Double(w[0])),
                    MetricSample(key: "rstdp.other_weight_mean", step: step, value: Double(others)),
                    MetricSample(key: "rstdp.dopamine", step: step, value: rule.dopamine),
                    MetricSample(key: "rstdp.plasticity_gain", step: step, value: rule.plasticityGain),
                    MetricSample(key: "reward.count", step: step, value: Double(state.rewards)),
                    MetricSample(key: "output.rate", step: step, value: Double(state.windowSpikes) / Double(max(state.windowSteps, 1))),
                ])
                state.windowSpikes = 0
                state.windowSteps = 0
            }
            if step % spec.checkpointEverySteps == 0 || step == totalSteps { try observer.sessionReachedCheckpoint(self) }
        }
        return .completed
    }

    public var selectionMetric: String? { nil }

    public func summary() -> JSONValue {
        let w = rule.weights.array
        let others = w.dropFirst()
        let mean = Double(others.reduce(0, +)) / Double(max(others.count, 1))
        let rank = w.filter { $0 > w[0] }.count + 1
        return .object([
            "protocol": .string("distal_reward"),
            "steps": .number(Double(step)),
            "rewards": .number(Double(state.rewards)),
            "output_rate": .number(Double(state.outputSpikes) / Double(max(step, 1))),
            "causal_weight": .number(Double(w[0])),
            "other_weight_mean": .number(mean),
            "other_weight_max": .number(Double(others.max() ?? 0)),
            "causal_weight_rank": .number(Double(rank)),
        ])
    }

    public func checkpoint(extraMetadata: [String: String]) -> Data {
        var file = Safetensors.File()
        file.tensors["layers.0.weight"] = .init(shape: [rule.pre, 1], values: rule.weights.array)
        file.tensors["rstdp.eligibility"] = .init(shape: [rule.pre, 1], values: rule.eligibility.array)
        let traces = rule.traces
        file.tensors["rstdp.pre_trace"] = .init(shape: [traces.pre.count], values: traces.pre)
        file.tensors["rstdp.post_trace"] = .init(shape: [traces.post.count], values: traces.post)
        var meta = CheckpointHeader.metadata(format: Self.checkpointFormat, session: self, extra: extraMetadata)
        meta["rng"] = rng.words.map(String.init).joined(separator: ",")
        meta["dopamine"] = "\(rule.dopamine)"
        meta["state"] = String(decoding: (try? JSONEncoder().encode(state)) ?? Data(), as: UTF8.self)
        file.metadata = meta
        return Safetensors.encode(file)
    }

    public func restore(from data: Data) throws {
        let (file, s) = try CheckpointHeader.open(data, format: Self.checkpointFormat, session: self)
        try file.load("layers.0.weight", into: rule.weights)
        try file.load("rstdp.eligibility", into: rule.eligibility)
        guard let pre = file.tensors["rstdp.pre_trace"]?.values, let post = file.tensors["rstdp.post_trace"]?.values,
              pre.count == rule.pre, post.count == rule.post,
              let d = Double(try file.meta("dopamine")) else { throw CheckpointError("checkpoint traces are malformed") }
        let words = try file.meta("rng").split(separator: ",").compactMap { UInt64($0) }
        guard words.count == 4 else { throw CheckpointError("checkpoint rng is malformed") }
        state = try JSONDecoder().decode(State.self, from: Data(try file.meta("state").utf8))
        rule.restore(preTrace: pre, postTrace: post, dopamine: d)
        rng = RandomSource(words: words)
        step = s
    }
}
