import Foundation
import Support
import CBLAS

/// Reward tasks, trial by trial, with dopamine as the reward prediction error (RPE):
/// - bandit: action values Q (one per arm) learned by the delta rule Q[a] += α·δ, δ = r − Q[a];
///   softmax choice at temperature T; reward probabilities redrawn every `change_every` trials
///   (or drifting every trial).
/// - reversal: a Go/No-Go task; an MLP with a linear output (one-hot stimulus → Q(s, go),
///   Q(s, no-go)) trained on the RPE δ = r − Q(s, a) of the chosen action (loss ½δ²), with
///   softmax choice over Q/T. A correct response (go to a go stimulus, no-go to a no-go stimulus)
///   earns +1, an error −1; the contingencies flip every `reverse_every` trials.
/// - bandit with `learner: bayesian`: the normative reference, ``BayesianChangePointLearner``.
/// The agent is not told when things change. Neuromodulator effects: learning_rate scales α,
/// temperature scales T, gain and threshold act on the network's hidden units.
public final class RewardFamily: TrainingFamily {
    public static let kind = "reward"
    public let spec: ExperimentSpec
    public let schedule: TrainingSchedule
    /// Trials completed (the loop's step, mirrored for the trial logic).
    private var step = 0
    public let neuromodulators: NeuromodulatorSystem
    let model: MLP?
    let optimizer: Optimizer?
    private var rng: RandomSource

    struct State: Codable, Equatable {
        var probabilities: [Double] = []   // bandit
        var values: [Double] = []          // bandit Q, or reversal baseline V per stimulus
        var flipped = false                // reversal
        var changeTrial = 0
        var previousBest = -1
        var recent: [Bool] = []
        var criterionReached = false
        var blockPerseverative = 0
        var trialsToCriterion: [Int] = []
        var censored = 0
        var changes = 0
        var perseverative = 0
        var perseverativePerChange: [Int] = []
        var regret = 0.0
        /// Errors (non-best choices) between a change and the criterion, of which `perseverative`
        /// went to the previously best arm (bandit); nil in older checkpoints.
        var errorsAfterChange: Int?
        /// The Bayesian reference learner's belief (`protocol.learner: bayesian`).
        var bayes: BayesianChangePointLearner?
    }
    private(set) var state = State()

    static let criterionWindow = 10
    static let criterionHits = 8

    public init(spec: ExperimentSpec) {
        self.spec = spec
        schedule = .single(steps: spec.protocol.trials)
        neuromodulators = NeuromodulatorSystem(spec: spec.neuromodulation)
        rng = RandomSource(seed: spec.seed, stream: 9000)
        let p = spec.protocol
        if p.kind == .bandit {
            model = nil
            optimizer = nil
            state.probabilities = (0..<p.arms).map { _ in rng.uniform() }
            state.values = [Double](repeating: 0.5, count: p.arms)
            if p.learner == "bayesian" { state.bayes = BayesianChangePointLearner(arms: p.arms, hazard: 1 / Double(p.changeEvery)) }
        } else {
            var weightsRNG = RandomSource(seed: spec.seed, stream: 1)
            let network = MLP(sizes: spec.model.layers, activation: spec.model.activation, rng: &weightsRNG)
            network.linearOutput = true
            model = network
            optimizer = Optimizer(spec: spec.optimizer, sizes: spec.model.layers)
            state.values = []
        }
    }

    var isBandit: Bool { spec.protocol.kind == .bandit }

    var bestArm: Int { state.probabilities.indices.max { state.probabilities[$0] < state.probabilities[$1] } ?? 0 }

    public func willTrain() { openblas_set_num_threads(1) }

    public func trainStep(_ step: Int, at position: TrainingSchedule.Position, sums: inout MetricSums) -> StepReport {
        self.step = step
        var events: [(key: String, value: Double)] = []
        applyScheduledChange(&events)
        let (reward, optimal, perseverative, detected) = isBandit ? banditTrial() : reversalTrial()
        self.step = step + 1
        sums.add("reward", reward)
        sums.add("optimal", optimal ? 1 : 0)
        sums.add("trials", 1)
        if detected { events.append(("context.boundary", 1)) }
        trackCriterion(optimal: optimal, perseverative: perseverative, &events)
        return StepReport(samples: 1, events: events)
    }

    public func windowMetrics(step: Int, sums: MetricSums.Span, elapsed: Double) -> [MetricSample] {
        var m = [
            MetricSample(key: "reward.mean", step: step, value: sums.ratio("reward", per: "trials")),
            MetricSample(key: isBandit ? "choice.optimal_rate" : "choice.correct_rate", step: step, value: sums.ratio("optimal", per: "trials")),
        ]
        if isBandit { m.append(MetricSample(key: "regret.cumulative", step: step, value: state.regret)) }
        return m + neuromodulators.drainWindow(step: step)
    }

    // MARK: - Trials

    private func applyScheduledChange(_ events: inout [(key: String, value: Double)]) {
        let p = spec.protocol
        guard step > 0 else { return }
        if isBandit {
            if p.change == "redraw" && step % p.changeEvery == 0 {
                let before = bestArm
                state.probabilities = (0..<p.arms).map { _ in rng.uniform() }
                markChange(previousBest: before, &events)
            }
        } else if step % p.reverseEvery == 0 {
            state.flipped.toggle()
            markChange(previousBest: -1, &events)
        }
    }

    private func markChange(previousBest: Int, _ events: inout [(key: String, value: Double)]) {
        if state.changes > 0 || step > 0 {
            if !state.criterionReached && state.changes > 0 { state.censored += 1 }
            if state.changes > 0 {
                state.perseverativePerChange.append(state.blockPerseverative)
                events.append(("perseverative_errors", Double(state.blockPerseverative)))
            }
        }
        state.changes += 1
        state.changeTrial = step
        state.previousBest = previousBest
        state.recent = []
        state.criterionReached = false
        state.blockPerseverative = 0
    }

    /// One trial: (reward, chose optimally/correctly, perseverative error, boundary detected).
    private func banditTrial() -> (Double, Bool, Bool, Bool) {
        let p = spec.protocol
        if p.change == "drift" {
            let before = bestArm
            for a in state.probabilities.indices {
                state.probabilities[a] = min(1, max(0, state.probabilities[a] + rng.normal() * p.driftSD))
            }
            if bestArm != before {
                var ignored: [(key: String, value: Double)] = []
                markChange(previousBest: before, &ignored)
            }
        }
        let best = bestArm
        if var bayes = state.bayes {
            let action = bayes.choose(&rng)
            let won = rng.uniform() < state.probabilities[action]
            let expected = bayes.means[action]
            bayes.observe(arm: action, reward: won)
            state.bayes = bayes
            state.regret += state.probabilities[best] - state.probabilities[action]
            let detected = neuromodulators.observe(reward: won ? 1 : 0, rpe: (won ? 1 : 0) - expected)
            return (won ? 1 : 0, action == best, countError(action: action, best: best), detected)
        }
        let effects = neuromodulators.effects
        let temperature = p.temperature * effects.temperature
        let q = state.values
        let m = q.max() ?? 0
        let weights = q.map { exp(($0 - m) / temperature) }
        let action = sample(weights)
        let reward: Double = rng.uniform() < state.probabilities[action] ? 1 : 0
        let rpe = reward - q[action]
        state.regret += state.probabilities[best] - state.probabilities[action]
        // The modulators see this trial's outcome before it is learned from.
        let detected = neuromodulators.observe(reward: reward, rpe: rpe)
        let alpha = min(1, spec.optimizer.learningRate * neuromodulators.effects.learningRate)
        state.values[action] += alpha * rpe
        return (reward, action == best, countError(action: action, best: best), detected)
    }

    /// Whether a bandit choice is a perseverative error (the previously best arm, before the
    /// criterion after a change); counts every error of that period for the perseveration index.
    private func countError(action: Int, best: Int) -> Bool {
        guard !state.criterionReached && state.previousBest >= 0 && action != best else { return false }
        state.errorsAfterChange = (state.errorsAfterChange ?? 0) + 1
        return action == state.previousBest
    }

    private func reversalTrial() -> (Double, Bool, Bool, Bool) {
        guard let model, let optimizer else { return (0, false, false, false) }
        let p = spec.protocol
        let s = rng.below(p.stimuli)
        let isGo = (s < p.stimuli / 2) != state.flipped
        let x = model.inputBuffer(batch: 1)
        for i in 0..<p.stimuli { x[i] = i == s ? 1 : 0 }
        let effects = neuromodulators.effects
        var mod = Modulation()
        mod.gain = Float(effects.gain)
        mod.threshold = Float(effects.threshold)
        model.modulation = mod
        let q = model.forward(batch: 1)
        let temperature = p.temperature * effects.temperature
        let qGo = Double(q[0]), qNoGo = Double(q[1])
        let pGo = 1 / (1 + exp((qNoGo - qGo) / temperature))
        let action = rng.uniform() < pGo ? 0 : 1   // 0 = go, 1 = no-go
        let correct = (action == 0) == isGo
        let reward: Double = correct ? 1 : -1
        let rpe = reward - Double(q[action])
        let detected = neuromodulators.observe(reward: reward, rpe: rpe)
        optimizer.beginStep()
        // ½δ² on the chosen action's value: ∂/∂Q(s, a) = −δ.
        var gradient: [Float] = [0, 0]
        gradient[action] = Float(-rpe)
        gradient.withUnsafeBufferPointer {
            model.backwardAndUpdate(batch: 1, outputGradient: $0.baseAddress!, optimizer: optimizer,
                                    lrScale: Float(neuromodulators.effects.learningRate))
        }
        return (reward, correct, !state.criterionReached && state.changes > 0 && !correct, detected)
    }

    private func sample(_ weights: [Double]) -> Int {
        let total = weights.reduce(0, +)
        var u = rng.uniform() * total
        for (i, w) in weights.enumerated() {
            u -= w
            if u < 0 { return i }
        }
        return weights.count - 1
    }

    private func trackCriterion(optimal: Bool, perseverative: Bool, _ events: inout [(key: String, value: Double)]) {
        guard state.changes > 0 || step > 0 else { return }
        if perseverative { state.perseverative += 1; state.blockPerseverative += 1 }
        guard !state.criterionReached else { return }
        state.recent.append(optimal)
        if state.recent.count > Self.criterionWindow { state.recent.removeFirst() }
        if state.recent.count == Self.criterionWindow && state.recent.filter({ $0 }).count >= Self.criterionHits {
            state.criterionReached = true
            let trials = step - state.changeTrial
            if state.changes > 0 {
                state.trialsToCriterion.append(trials)
                events.append(("trials_to_criterion", Double(trials)))
            }
        }
    }

    // MARK: - Summary and checkpoints

    public var selectionMetric: String? { nil }

    public func summarize(into s: inout [String: JSONValue], sums: MetricSums) {
        let n = Double(max(step, 1))
        let ttc = state.trialsToCriterion
        s["protocol"] = .string(spec.protocol.kind.rawValue)
        s["trials"] = .number(Double(step))
        s["total_reward"] = .number(sums.run["reward"])
        s["mean_reward"] = .number(sums.run["reward"] / n)
        s[isBandit ? "optimal_choice_rate" : "correct_rate"] = .number(sums.run["optimal"] / n)
        s["changes"] = .number(Double(state.changes))
        s["trials_to_criterion"] = .object([
            "values": .numbers(ttc.map(Double.init)),
            "mean": ttc.isEmpty ? .null : .number(Double(ttc.reduce(0, +)) / Double(ttc.count)),
            "not_reached": .number(Double(state.censored)),
        ])
        s["perseverative_errors"] = .object([
            "total": .number(Double(state.perseverative)),
            "per_change": .numbers(state.perseverativePerChange.map(Double.init)),
        ])
        if isBandit {
            s["cumulative_regret"] = .number(state.regret)
            // Perseverative errors as a share of all errors after a change, over the share a
            // choice spread evenly over the wrong arms would give (1/(arms − 1)): 1 is chance.
            let errors = state.errorsAfterChange ?? 0
            s["perseveration_index"] = errors > 0 ? .number(Double(state.perseverative) / Double(errors) * Double(spec.protocol.arms - 1)) : .null
            s["learner"] = .string(spec.protocol.learner)
        }
        if neuromodulators.isActive || neuromodulators.detectedBoundaries > 0 {
            s["neuromodulators"] = .object(neuromodulators.runMeans.mapValues { .number($0) })
            s["detected_boundaries"] = .number(Double(neuromodulators.detectedBoundaries))
        }
    }

    public func save(to w: inout CheckpointWriter) {
        if let model {
            MLPServable.describe(model, labels: ["go", "no-go"], into: &w)
            for l in 0..<model.layerCount {
                w.tensor("layers.\(l).weight", model.weights[l], shape: [model.sizes[l], model.sizes[l + 1]])
                w.tensor("layers.\(l).bias", model.biases[l])
            }
        }
        optimizer?.save(to: &w)
        w.state("rng", rng)
        w.state("task", state)
        w.state("neuromodulators", neuromodulators.state)
    }

    public func load(from r: CheckpointReader) throws {
        if let model {
            for l in 0..<model.layerCount {
                try r.tensor("layers.\(l).weight", into: model.weights[l])
                try r.tensor("layers.\(l).bias", into: model.biases[l])
            }
        }
        try optimizer?.load(from: r)
        rng = try r.state("rng")
        state = try r.state("task")
        step = r.header.step
        try neuromodulators.restore(try r.state("neuromodulators"))
    }
}

extension RewardFamily {
    /// Reward tasks learned trial by trial (protocols `bandit` and `reversal`).
    public static let registration = FamilyRegistration(
        kind: kind,
        accepts: { $0.protocol.kind == .bandit || $0.protocol.kind == .reversal },
        makeSession: { spec, _ in TrainingLoop(RewardFamily(spec: spec)) },
        makeServable: { spec, file in
            // The reversal task's value network is servable; the bandit's action values are not a network.
            guard spec.protocol.kind == .reversal else {
                throw InferenceModel.Failure.unsupported("a bandit's action values are not a servable network; MLP and spiking network checkpoints are")
            }
            return try MLPServable(spec: spec, file: file)
        })
}

extension TrainingLoop where Family == RewardFamily {
    /// The training session of the family for `spec`.
    public convenience init(spec: ExperimentSpec) { self.init(RewardFamily(spec: spec)) }
}
