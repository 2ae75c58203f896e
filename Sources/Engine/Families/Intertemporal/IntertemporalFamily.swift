import Foundation
import Support

/// Intertemporal choice with serotonin setting the discount (`protocol.kind` `intertemporal`).
///
/// Each trial offers, for a delay D drawn uniformly from `delays` and shown to the agent, a
/// smaller-sooner reward (`small_reward`, one step later) or a larger-later one (`large_reward`,
/// D steps later, passing through D − 1 waiting states). The agent learns a table of values by
/// TD(λ) — Q(offer D, sooner), Q(offer D, later), V(waiting k of D) — with replacing eligibility
/// traces, δ = r + γ·V(next) − V(now), and chooses by a softmax over Q/T; a share
/// `forced_trials` of trials offers one option alone (drawn at random), so both stay sampled, as
/// in animal delay-discounting tasks, and only free choices count in the curve. Learned, Q(D, later) →
/// γ^(D−1)·large and Q(D, sooner) → small, so it waits exactly while D − 1 < ln(large/small)/(−ln γ).
///
/// Serotonin sets the discount, after Doya (2002) and the waiting experiments of Miyazaki et al.
/// (2014): a channel with target `horizon` scales the horizon 1/(1 − γ), so γ = 1 − (1 − γ₀)/f with
/// f = exp(k·s). With the `tonic` signal, s = 1 and k is the dose. Which dose pays depends on the
/// environment. Time runs on through `intertrial_interval` empty steps after each trial; the
/// policy with the most reward per step (the long-run rate R*) waits exactly while
/// large − small > R*·(D − 1), so the rarer the offers, the more patience pays. The summary
/// reports R* (over the threshold policies, which include the optimum), its indifference delay
/// D* = 1 + (large − small)/R*, and the discount whose learned policy has that indifference,
/// γ* = exp(−ln(large/small)/(D* − 1)).
public final class IntertemporalFamily: TrainingFamily {
    public static let kind = "intertemporal"
    public let spec: ExperimentSpec
    public let schedule: TrainingSchedule
    public let neuromodulators: NeuromodulatorSystem
    private var rng: RandomSource
    private var step = 0

    struct State: Codable, Equatable {
        /// Per delay index: Q(offer, sooner), Q(offer, later), and V of its waiting states 1…D−1.
        var sooner: [Double]
        var later: [Double]
        var waiting: [[Double]]
        /// Time steps elapsed and reward earned over the run, and over its second half.
        var elapsed = 0
        var earned = 0.0
        var lateElapsed = 0
        var lateEarned = 0.0
        /// Second half of the run, per delay index: offers and larger-later choices.
        var offers: [Int]
        var waited: [Int]
        /// Sum of the discount used, over trials.
        var discountSum = 0.0
    }
    private(set) var state: State

    public init(spec: ExperimentSpec) {
        self.spec = spec
        schedule = .single(steps: spec.protocol.trials)
        neuromodulators = NeuromodulatorSystem(spec: spec.neuromodulation)
        rng = RandomSource(seed: spec.seed, stream: 9_100)
        let delays = spec.protocol.delays
        state = State(sooner: [Double](repeating: 0, count: delays.count), later: [Double](repeating: 0, count: delays.count),
                      waiting: delays.map { [Double](repeating: 0, count: max(0, $0 - 1)) },
                      offers: [Int](repeating: 0, count: delays.count), waited: [Int](repeating: 0, count: delays.count))
    }

    public var selectionMetric: String? { nil }

    /// The discount of this trial: γ₀'s horizon scaled by the modulators' `horizon` factor.
    var discount: Double { 1 - (1 - spec.protocol.discount) / neuromodulators.effects.horizon }

    public func trainStep(_ step: Int, at position: TrainingSchedule.Position, sums: inout MetricSums) -> StepReport {
        self.step = step
        let p = spec.protocol
        let d = rng.below(p.delays.count), delay = p.delays[d]
        let gamma = discount, lambda = p.traceDecay
        let alpha = min(1, spec.optimizer.learningRate * neuromodulators.effects.learningRate)
        let temperature = p.temperature * neuromodulators.effects.temperature
        let (qs, ql) = (state.sooner[d], state.later[d])
        let pLater = 1 / (1 + exp((qs - ql) / temperature))
        // A forced trial offers one option, drawn at random; its choice is not the agent's.
        let forced = rng.uniform() < p.forcedTrials
        let waits = rng.uniform() < (forced ? 0.5 : pLater)
        // The episode as a chain of (value slot, reward on leaving it); the last leads to the end.
        enum Slot { case sooner, later, waiting(Int) }
        let chain: [(Slot, Double)] = waits
            ? [(.later, delay == 1 ? p.largeReward : 0)] + (1..<max(1, delay)).map { k in (.waiting(k - 1), k == delay - 1 ? p.largeReward : 0) }
            : [(.sooner, p.smallReward)]
        func value(_ s: Slot) -> Double {
            switch s {
            case .sooner: return state.sooner[d]
            case .later: return state.later[d]
            case .waiting(let k): return state.waiting[d][k]
            }
        }
        func add(_ s: Slot, _ x: Double) {
            switch s {
            case .sooner: state.sooner[d] += x
            case .later: state.later[d] += x
            case .waiting(let k): state.waiting[d][k] += x
            }
        }
        var traces: [(Slot, Double)] = []
        var firstError = 0.0, reward = 0.0
        for (i, (slot, r)) in chain.enumerated() {
            let next = i + 1 < chain.count ? value(chain[i + 1].0) : 0
            let delta = r + gamma * next - value(slot)
            if i == 0 { firstError = delta }
            traces = traces.map { ($0.0, $0.1 * gamma * lambda) } + [(slot, 1)]
            for (s, e) in traces { add(s, alpha * delta * e) }
            reward += r
        }
        let duration = chain.count + p.intertrialInterval
        state.elapsed += duration
        state.earned += reward
        state.discountSum += gamma
        if step >= p.trials / 2 {
            state.lateElapsed += duration
            state.lateEarned += reward
            if !forced {
                state.offers[d] += 1
                if waits { state.waited[d] += 1 }
            }
        }
        let detected = neuromodulators.observe(reward: reward, rpe: firstError, steps: Double(duration))
        self.step = step + 1
        sums.add("reward", reward)
        sums.add("time", Double(duration))
        if !forced { sums.add("waited", waits ? 1 : 0); sums.add("free", 1) }
        sums.add("discount", gamma)
        sums.add("trials", 1)
        return StepReport(samples: 1, events: detected ? [("context.boundary", 1)] : [])
    }

    public func windowMetrics(step: Int, sums: MetricSums.Span, elapsed: Double) -> [MetricSample] {
        [MetricSample(key: "reward.per_step", step: step, value: sums.ratio("reward", per: "time")),
         MetricSample(key: "choice.later_rate", step: step, value: sums.ratio("waited", per: "free")),
         MetricSample(key: "discount", step: step, value: sums.ratio("discount", per: "trials"))]
            + neuromodulators.drainWindow(step: step)
    }

    /// The delay at which the share of larger-later choices crosses ½ (linear between the
    /// measured delays), or nil when it never does.
    static func crossing(delays: [Int], shares: [Double?]) -> Double? {
        let points = zip(delays, shares).compactMap { d, s in s.map { (Double(d), $0) } }.sorted { $0.0 < $1.0 }
        for (a, b) in zip(points, points.dropFirst()) where (a.1 - 0.5) * (b.1 - 0.5) <= 0 && a.1 != b.1 {
            return a.0 + (a.1 - 0.5) / (a.1 - b.1) * (b.0 - a.0)
        }
        return nil
    }

    public func summarize(into s: inout [String: JSONValue], sums: MetricSums) {
        let p = spec.protocol
        let n = Double(max(step, 1))
        let shares: [Double?] = p.delays.indices.map { state.offers[$0] > 0 ? Double(state.waited[$0]) / Double(state.offers[$0]) : nil }
        let gamma = state.discountSum / n
        let ratio = p.largeReward / p.smallReward
        s["protocol"] = .string(p.kind.rawValue)
        s["trials"] = .number(Double(step))
        s["mean_reward"] = .number(state.earned / n)
        s["reward_per_step"] = .number(state.earned / Double(max(state.elapsed, 1)))
        let lateRate = state.lateEarned / Double(max(state.lateElapsed, 1))
        s["late_reward_per_step"] = .number(lateRate)
        s["later_choice_by_delay"] = .object(Dictionary(uniqueKeysWithValues: zip(p.delays, shares).map { (String($0), $1.map(JSONValue.number) ?? .null) }))
        s["discount"] = .number(gamma)
        s["indifference_delay"] = .object([
            "observed": Self.crossing(delays: p.delays, shares: shares).map(JSONValue.number) ?? .null,
            "predicted": .number(1 + Foundation.log(ratio) / -Foundation.log(gamma)),
        ])
        let optimal = Self.rewardRateOptimum(p)
        s["late_reward_rate_fraction"] = .number(lateRate / optimal.rate)
        s["reward_rate_optimum"] = .object([
            "reward_per_step": .number(optimal.rate),
            "indifference_delay": .number(optimal.indifference),
            "discount": .number(optimal.discount),
        ])
        if neuromodulators.isActive || neuromodulators.detectedBoundaries > 0 {
            s["neuromodulators"] = .object(neuromodulators.runMeans.mapValues { .number($0) })
        }
    }

    /// The most reward per step a policy can earn in this task (waiting for the shortest m
    /// delays, over every m — the optimal policy is of this form), its indifference delay, and the
    /// discount at which TD's learned choices have that indifference.
    static func rewardRateOptimum(_ p: ProtocolSpec) -> (rate: Double, indifference: Double, discount: Double) {
        let sorted = p.delays.sorted(), n = Double(p.delays.count), f = p.forcedTrials
        // Forced trials take either option with probability ½, whatever the policy.
        let forcedReward = (p.largeReward + p.smallReward) / 2
        let forcedTime = (Double(sorted.reduce(0, +)) / n + 1) / 2
        var best = 0.0
        for m in 0...sorted.count {
            let reward = (Double(m) * p.largeReward + Double(sorted.count - m) * p.smallReward) / n
            let time = (Double(sorted.prefix(m).reduce(0, +)) + Double(sorted.count - m)) / n
            best = max(best, (f * forcedReward + (1 - f) * reward) / (f * forcedTime + (1 - f) * time + Double(p.intertrialInterval)))
        }
        let indifference = 1 + (p.largeReward - p.smallReward) / best
        return (best, indifference, Foundation.exp(-Foundation.log(p.largeReward / p.smallReward) / (indifference - 1)))
    }

    public func save(to w: inout CheckpointWriter) {
        w.state("rng", rng)
        w.state("task", state)
        w.state("neuromodulators", neuromodulators.state)
    }

    public func load(from r: CheckpointReader) throws {
        rng = try r.state("rng")
        state = try r.state("task")
        step = r.header.step
        try neuromodulators.restore(try r.state("neuromodulators"))
    }
}

extension IntertemporalFamily {
    /// Intertemporal choice learned by TD(λ) (protocol `intertemporal`); a value table, not servable.
    public static let registration = FamilyRegistration(
        kind: kind,
        accepts: { $0.protocol.kind == .intertemporal },
        makeSession: { spec, _ in TrainingLoop(IntertemporalFamily(spec: spec)) },
        makeServable: nil)
}
