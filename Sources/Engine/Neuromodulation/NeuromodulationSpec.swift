import Foundation
import Support

/// Which neuromodulatory signals run, what each one drives, and how strongly.
///
/// Every channel turns one online signal `s` into multiplicative factors `exp(k·s)` (clamped to
/// `clamp`) for its targets, or an additive shift `k·s` for `threshold`. Couplings `k` are explicit.
public struct NeuromodulationSpec: Sendable, Equatable, Codable {
    public enum Modulator: String, Sendable, Codable, CaseIterable {
        case dopamine, noradrenaline, acetylcholine, serotonin
    }

    public enum Signal: String, Sendable, Codable, CaseIterable {
        /// DA, supervised: (slow average loss − loss) / slow average loss.
        case lossImprovement = "loss_improvement"
        /// DA, reward tasks: reward − expected reward.
        case rpe
        /// Phasic NA: positive z-score of the loss (or |RPE|) against its running statistics.
        case surprise
        /// Tonic NA: falling utility — fast average loss above the slow one (or fast reward below slow).
        case utilityDecline = "utility_decline"
        /// ACh: expected uncertainty — predictive entropy / log(classes), or the running mean |RPE|.
        case expectedUncertainty = "expected_uncertainty"
        /// 5-HT: patience/stability, 1 − exp(−steps since the last context change / tau_patience).
        case stability
        /// Any modulator: a constant level 1 — a fixed tonic level, as a drug or an optogenetic
        /// manipulation sets it; the coupling is the dose.
        case tonic
        /// 5-HT, reward tasks: −ln(slow average reward per time step) — the scarcer reward is in
        /// time, the higher (patience as the opponent of the reward rate).
        case rewardRate = "reward_rate"

        /// The modulators each signal is allowed on.
        var modulators: [Modulator] {
            switch self {
            case .lossImprovement, .rpe: return [.dopamine]
            case .surprise, .utilityDecline: return [.noradrenaline]
            case .expectedUncertainty: return [.acetylcholine]
            case .stability, .rewardRate: return [.serotonin]
            case .tonic: return Modulator.allCases
            }
        }
    }

    public enum Target: String, Sendable, Codable, CaseIterable {
        case learningRate = "learning_rate"
        /// Hidden units' gain g in y = φ(g·(Wx + b) − θ).
        case gain
        /// Hidden units' threshold θ (additive).
        case threshold
        /// Softmax temperature (output sharpness; exploration in reward tasks).
        case temperature
        /// Consolidation strength λ.
        case consolidation
        /// The discount horizon 1/(1 − γ) of TD learning (intertemporal task): γ = 1 − (1 − γ₀)/factor.
        case horizon
    }

    public struct Channel: Sendable, Equatable, Codable {
        public var modulator: Modulator
        public var signal: Signal
        /// Target → coupling k.
        public var targets: [String: Double]
        public var tauFast: Double
        public var tauSlow: Double
        public var tauPatience: Double
        public var clampMin: Double
        public var clampMax: Double
        /// Weight layers (0 = input → first hidden) whose learning rate this channel scales; nil = all.
        public var layers: [Int]?
        enum CodingKeys: String, CodingKey {
            case modulator, signal, targets, layers
            case tauFast = "tau_fast", tauSlow = "tau_slow", tauPatience = "tau_patience", clampMin = "clamp_min", clampMax = "clamp_max"
        }
    }

    /// Task boundaries: given by the protocol, detected from surprise spikes, or both. They reset
    /// 5-HT's patience clock, are logged as `context.boundary`, and (protocol ones) consolidate.
    public struct Context: Sendable, Equatable, Codable {
        public var boundaries: String
        public var surpriseThreshold: Double
        public var minGap: Int
        /// Context-dependent gating: fraction of hidden units a task may use (nil: no gating).
        public var gatingKeep: Double?
        /// Context inference over the gated sub-networks (nil: the task identity picks the gate):
        /// each context has its own unit mask and output group (the classes trained in it); a new
        /// context opens at each boundary (protocol, or detected by noradrenergic surprise); at test
        /// the context is chosen per input — `entropy` (acetylcholine's expected uncertainty: the
        /// context whose head is least uncertain), `memory` (the context an associative sparse-code
        /// memory recalls for the input, ``ContextMemory``), `oracle` (the context the input's task
        /// was trained in: the upper bound) or `random` (the control).
        public var inference: String?
        /// Code units of the context memory (selection `memory` only; nil: ``ContextMemory/defaultUnits``).
        public var memoryUnits: Int?
        enum CodingKeys: String, CodingKey {
            case boundaries, surpriseThreshold = "surprise_threshold", minGap = "min_gap", gatingKeep = "gating_keep", inference
            case memoryUnits = "memory_units"
        }
        public static let standard = Context(boundaries: "protocol", surpriseThreshold: 4, minGap: 50, gatingKeep: nil, inference: nil, memoryUnits: nil)
    }

    /// An input-driven plasticity gate on the first hidden layer (ANML-like): σ(W_m·x + b_m).
    public struct GateNetwork: Sendable, Equatable, Codable {
        /// Initial bias of every gate (σ(2) ≈ 0.88: gates start mostly open).
        public var biasInit: Double
        enum CodingKeys: String, CodingKey { case biasInit = "bias_init" }
    }

    /// Uncertainty-driven gain on every layer (``UncertaintyGain``): η and γ.
    public struct GainModulation: Sendable, Equatable, Codable {
        public var eta: Double
        public var decay: Double
    }

    public var channels: [Channel]
    public var context: Context
    public var modulatoryGate: GateNetwork?
    public var uncertaintyGain: GainModulation?

    enum CodingKeys: String, CodingKey { case channels, context, modulatoryGate = "modulatory_gate", uncertaintyGain = "uncertainty_gain" }

    public static let off = NeuromodulationSpec(channels: [], context: .standard, modulatoryGate: nil, uncertaintyGain: nil)
    public var isEnabled: Bool { !channels.isEmpty || context.gatingKeep != nil || modulatoryGate != nil || uncertaintyGain != nil }

    public func uses(_ target: Target) -> Bool { channels.contains { $0.targets[target.rawValue] != nil } }

    static func parse(_ value: JSONValue?, reward: Bool) throws(SpecError) -> NeuromodulationSpec {
        guard let value else { return .off }
        var r = try FieldReader(value, path: "neuromodulation")
        var channels: [Channel] = []
        for m in Modulator.allCases {
            guard let raw = r.raw(m.rawValue) else { continue }
            let entries: [(JSONValue, String)]
            if case .array(let a) = raw {
                entries = a.enumerated().map { ($1, "neuromodulation.\(m.rawValue)[\($0)]") }
            } else {
                entries = [(raw, "neuromodulation.\(m.rawValue)")]
            }
            for (entry, path) in entries {
                channels.append(try parseChannel(entry, path: path, modulator: m, reward: reward))
            }
        }
        var context = Context.standard
        if let c = r.raw("context") {
            var cr = try FieldReader(c, path: "neuromodulation.context")
            context.boundaries = try cr.string("boundaries", default: "protocol", oneOf: ["protocol", "detected", "both"])
            context.surpriseThreshold = try cr.double("surprise_threshold", default: 4, in: 0.5...100)
            context.minGap = try cr.int("min_gap", default: 50, in: 1...1_000_000)
            if cr.raw("gating_keep") != nil {
                context.gatingKeep = try cr.double("gating_keep", in: 0...1, openLower: true)
            }
            if cr.raw("inference") != nil {
                context.inference = try cr.string("inference", oneOf: ["entropy", "memory", "oracle", "random"])
                if context.gatingKeep == nil {
                    throw SpecError("neuromodulation.context.inference", "infers which gated sub-network to use: set gating_keep too")
                }
            }
            if cr.raw("memory_units") != nil {
                guard context.inference == "memory" else {
                    throw SpecError("neuromodulation.context.memory_units", "sizes the context memory: only with inference \"memory\"")
                }
                context.memoryUnits = try cr.int("memory_units", in: 50...20_000)
            }
            try cr.rejectUnknown()
        }
        var gate: GateNetwork?
        if let g = r.raw("modulatory_gate") {
            if reward { throw SpecError("neuromodulation.modulatory_gate", "the modulatory gate needs a supervised protocol") }
            var gr = try FieldReader(g, path: "neuromodulation.modulatory_gate")
            gate = GateNetwork(biasInit: try gr.double("bias_init", default: 2, in: -10...10))
            try gr.rejectUnknown()
        }
        var uncertaintyGain: GainModulation?
        if let g = r.raw("uncertainty_gain") {
            if reward { throw SpecError("neuromodulation.uncertainty_gain", "integrates the predictive entropy of training batches: a supervised protocol") }
            var gr = try FieldReader(g, path: "neuromodulation.uncertainty_gain")
            uncertaintyGain = GainModulation(eta: try gr.double("eta", default: 0.3, in: 0...5),
                                             decay: try gr.double("decay", default: 0.9, in: 0...0.999))
            try gr.rejectUnknown()
        }
        try r.rejectUnknown()
        return NeuromodulationSpec(channels: channels, context: context, modulatoryGate: gate, uncertaintyGain: uncertaintyGain)
    }

    private static func parseChannel(_ value: JSONValue, path: String, modulator m: Modulator, reward: Bool) throws(SpecError) -> Channel {
        var r = try FieldReader(value, path: path)
        let defaultSignal: Signal
        switch m {
        case .dopamine: defaultSignal = reward ? .rpe : .lossImprovement
        case .noradrenaline: defaultSignal = .surprise
        case .acetylcholine: defaultSignal = .expectedUncertainty
        case .serotonin: defaultSignal = .stability
        }
        let allowed = Signal.allCases.filter { $0.modulators.contains(m) }
        let signal = Signal(rawValue: try r.string("signal", default: defaultSignal.rawValue, oneOf: allowed.map(\.rawValue)))!
        if signal == .rpe && !reward { throw SpecError("\(path).signal", "rpe needs a reward protocol (bandit or reversal)") }
        if signal == .lossImprovement && reward { throw SpecError("\(path).signal", "loss_improvement needs a supervised protocol; use rpe") }
        if signal == .rewardRate && !reward { throw SpecError("\(path).signal", "reward_rate needs a reward protocol") }
        guard case .object(let targetsObject)? = r.raw("targets"), !targetsObject.isEmpty else {
            throw SpecError("\(path).targets", "is required: an object of target → coupling, e.g. {\"learning_rate\": 1.0}")
        }
        var targets: [String: Double] = [:]
        for (name, coupling) in targetsObject {
            guard Target(rawValue: name) != nil else {
                throw SpecError("\(path).targets.\(name)", "is not a target; use one of \(Target.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard case .number(let k) = coupling, k.isFinite, abs(k) <= 10 else {
                throw SpecError("\(path).targets.\(name)", "must be a coupling between -10 and 10")
            }
            targets[name] = k
        }
        let tauFast = try r.double("tau_fast", default: 10, in: 1...1e6)
        let tauSlow = try r.double("tau_slow", default: 100, in: 1...1e6)
        if tauSlow < tauFast { throw SpecError("\(path).tau_slow", "must be at least tau_fast (\(tauFast))") }
        let channel = Channel(modulator: m, signal: signal, targets: targets, tauFast: tauFast, tauSlow: tauSlow,
                              tauPatience: try r.double("tau_patience", default: 500, in: 1...1e7),
                              clampMin: try r.double("clamp_min", default: 0.1, in: 0...1, openLower: true),
                              clampMax: try r.double("clamp_max", default: 10, in: 1...1000),
                              layers: r.raw("layers") == nil ? nil : try r.intArray("layers", count: 1...16, each: 0...15))
        if channel.layers != nil && targets["learning_rate"] == nil {
            throw SpecError("\(path).layers", "selects the layers whose learning rate the channel scales; add a learning_rate target")
        }
        try r.rejectUnknown()
        return channel
    }
}
