import Foundation

/// The modulators' combined effect for one step.
public struct ModulatorEffects: Sendable, Equatable, Codable {
    /// Applies to every layer.
    public var learningRate: Double = 1
    /// Extra learning-rate factors of single weight layers (channels with `layers`).
    public var layerLearningRate: [Int: Double] = [:]
    public var gain: Double = 1
    public var threshold: Double = 0
    public var temperature: Double = 1
    public var consolidation: Double = 1
    /// Factor on the discount horizon 1/(1 − γ) (intertemporal task).
    public var horizon: Double = 1

    public init() {}

    enum CodingKeys: String, CodingKey { case learningRate, layerLearningRate, gain, threshold, temperature, consolidation, horizon }

    /// Checkpoints written before `horizon` existed lack it: 1.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        learningRate = try c.decode(Double.self, forKey: .learningRate)
        layerLearningRate = try c.decode([Int: Double].self, forKey: .layerLearningRate)
        gain = try c.decode(Double.self, forKey: .gain)
        threshold = try c.decode(Double.self, forKey: .threshold)
        temperature = try c.decode(Double.self, forKey: .temperature)
        consolidation = try c.decode(Double.self, forKey: .consolidation)
        horizon = try c.decodeIfPresent(Double.self, forKey: .horizon) ?? 1
    }
}

/// Computes DA/NA/ACh/5-HT signals online from performance feedback and turns them into effects.
///
/// Per channel: a fast and a slow exponential average of the loss (or reward), the slow average
/// of its squared deviation, and of |RPE|. Signals (dimensionless):
/// - `loss_improvement` = (slow loss − loss) / slow loss, in [−1, 1]
/// - `rpe` = reward − expected reward, in [−5, 5]
/// - `surprise` = max(0, z) with z the loss's (or |RPE|'s) z-score against the slow statistics, ≤ 5
/// - `utility_decline` = (fast loss − slow loss) / slow loss (or (slow reward − fast reward) / (|slow| + 0.1)), in [−1, 1]
/// - `expected_uncertainty` = fast average of normalised predictive entropy (or slow average of |RPE|), ≥ 0
/// - `stability` = 1 − exp(−steps since the last context change / tau_patience), in [0, 1)
/// - `tonic` = 1 (a fixed level; the coupling is the dose)
/// - `reward_rate` = −ln(slow average reward per time step), reward tasks: the scarcer reward
///   is per unit of time, the higher (serotonin as patience, the opponent of the reward rate)
/// Each channel's factor for a target is clamp(exp(k·s), clamp_min, clamp_max); `threshold` adds k·s.
/// Factors of several channels multiply.
public final class NeuromodulatorSystem {
    struct ChannelState: Codable, Equatable {
        var initialized = false
        var fast = 0.0
        var slow = 0.0
        var slowVar = 0.0
        var absRPE = 0.0
        var absRPEVar = 0.0
        var entropy = 0.0
        var signal = 0.0
        var windowSum = 0.0
        var windowCount = 0
        var runSum = 0.0
        var runCount = 0
        /// Slow average of the time steps a trial takes (reward tasks; nil in older checkpoints).
        var slowSteps: Double?
    }

    public let spec: NeuromodulationSpec
    private(set) var states: [ChannelState]
    /// Loss statistics for boundary detection, independent of any channel.
    private var detector = ChannelState()
    public private(set) var stepsSinceChange = 0
    public private(set) var detectedBoundaries = 0
    public private(set) var effects = ModulatorEffects()
    private var effectWindow: [String: Double] = [:]
    private var effectWindowCount = 0
    /// The effects applied so far, step by step (recorded while channels are active and nothing is replayed).
    public private(set) var trace = EffectTrace()
    /// A yoked control's trace: step s applies `replay.effects(at: s)` instead of the channels'
    /// effects (the channels still observe and report their signals).
    public var replay: EffectTrace?
    private var replayStep = 0

    public init(spec: NeuromodulationSpec) {
        self.spec = spec
        states = spec.channels.map { _ in ChannelState() }
    }

    public var isActive: Bool { !spec.channels.isEmpty }

    /// Marks the start of global step `step`. Replaying, the effects in force for its forward pass
    /// are those recorded after step − 1 (the defaults before step 0), as in the recorded run.
    public func beginStep(_ step: Int) {
        guard let replay else { return }
        replayStep = step
        effects = step > 0 ? replay.effects(at: step - 1) : ModulatorEffects()
    }

    /// Marks the end of a step: a modulated run records its effects as they now stand.
    public func endStep() {
        guard isActive, replay == nil else { return }
        trace.append(effects)
    }

    /// Writes the recorded trace as `effects.*` tensors.
    public func saveTrace(to w: inout CheckpointWriter) { trace.save(to: &w) }

    /// Restores the recorded trace (empty when the checkpoint has none).
    public func loadTrace(from r: CheckpointReader) throws { trace = try EffectTrace(file: r.file) }

    /// A context change given by the protocol (a new task, a reversal the agent is told about).
    public func protocolBoundary() {
        if spec.context.boundaries != "detected" { stepsSinceChange = 0 }
    }

    /// Supervised step: mean loss and mean normalised entropy of the batch. Returns whether a
    /// context boundary was detected from a surprise spike.
    @discardableResult
    public func observe(loss: Double, entropy: Double) -> Bool {
        let detected = detect(value: loss)
        for i in states.indices {
            let ch = spec.channels[i]
            var s = states[i]
            let (af, asl) = (1 / ch.tauFast, 1 / ch.tauSlow)
            if !s.initialized {
                s.fast = loss; s.slow = loss; s.slowVar = 0; s.entropy = entropy; s.initialized = true
            }
            let deviation = loss - s.slow
            let z = deviation / (s.slowVar + pow(0.01 * s.slow, 2) + 1e-12).squareRoot()
            switch ch.signal {
            case .lossImprovement: s.signal = min(1, max(-1, (s.slow - loss) / (s.slow + 1e-8)))
            case .surprise: s.signal = min(5, max(0, z))
            case .utilityDecline: break
            case .expectedUncertainty: break
            case .stability: break
            case .tonic: break
            case .rpe, .rewardRate: s.signal = 0
            }
            s.fast += af * (loss - s.fast)
            s.slow += asl * deviation
            s.slowVar += asl * (deviation * deviation - s.slowVar)
            s.entropy += af * (entropy - s.entropy)
            switch ch.signal {
            case .utilityDecline: s.signal = min(1, max(-1, (s.fast - s.slow) / (s.slow + 1e-8)))
            case .expectedUncertainty: s.signal = s.entropy
            case .stability: s.signal = 1 - exp(-Double(stepsSinceChange) / ch.tauPatience)
            case .tonic: s.signal = 1
            default: break
            }
            states[i] = s
        }
        finishStep()
        return detected
    }

    /// Reward step: the reward and its prediction error, over a trial of `steps` time steps.
    /// Returns whether a boundary was detected.
    @discardableResult
    public func observe(reward: Double, rpe: Double, steps: Double = 1) -> Bool {
        let detected = detect(value: abs(rpe))
        for i in states.indices {
            let ch = spec.channels[i]
            var s = states[i]
            let (af, asl) = (1 / ch.tauFast, 1 / ch.tauSlow)
            if !s.initialized {
                s.fast = reward; s.slow = reward; s.absRPE = abs(rpe); s.absRPEVar = 0; s.initialized = true
            }
            let deviation = abs(rpe) - s.absRPE
            let z = deviation / (s.absRPEVar + 0.01).squareRoot()
            s.fast += af * (reward - s.fast)
            s.slow += asl * (reward - s.slow)
            let slowSteps = s.slowSteps.map { $0 + asl * (steps - $0) } ?? steps
            s.slowSteps = slowSteps
            s.absRPE += asl * deviation
            s.absRPEVar += asl * (deviation * deviation - s.absRPEVar)
            switch ch.signal {
            case .rpe: s.signal = min(5, max(-5, rpe))
            case .surprise: s.signal = min(5, max(0, z))
            case .utilityDecline: s.signal = min(1, max(-1, (s.slow - s.fast) / (abs(s.slow) + 0.1)))
            case .expectedUncertainty: s.signal = s.absRPE
            case .stability: s.signal = 1 - exp(-Double(stepsSinceChange) / ch.tauPatience)
            case .lossImprovement: s.signal = 0
            case .tonic: s.signal = 1
            case .rewardRate: s.signal = -Foundation.log(max(1e-6, s.slow / slowSteps))
            }
            states[i] = s
        }
        finishStep()
        return detected
    }

    private func detect(value: Double) -> Bool {
        stepsSinceChange += 1
        var d = detector
        defer { detector = d }
        if !d.initialized { d.slow = value; d.slowVar = 0; d.initialized = true; return false }
        let deviation = value - d.slow
        let z = deviation / (d.slowVar + pow(0.01 * abs(d.slow), 2) + 1e-12).squareRoot()
        d.slow += 0.01 * deviation
        d.slowVar += 0.01 * (deviation * deviation - d.slowVar)
        d.signal = z
        guard spec.context.boundaries != "protocol", z > spec.context.surpriseThreshold,
              stepsSinceChange >= spec.context.minGap else { return false }
        stepsSinceChange = 0
        detectedBoundaries += 1
        return true
    }

    private func finishStep() {
        var e = ModulatorEffects()
        for (i, ch) in spec.channels.enumerated() {
            let s = states[i].signal
            states[i].windowSum += s; states[i].windowCount += 1
            states[i].runSum += s; states[i].runCount += 1
            for (name, k) in ch.targets {
                guard let target = NeuromodulationSpec.Target(rawValue: name) else { continue }
                if target == .threshold { e.threshold += k * s; continue }
                let factor = min(ch.clampMax, max(ch.clampMin, exp(k * s)))
                switch target {
                case .learningRate:
                    if let layers = ch.layers {
                        for l in layers { e.layerLearningRate[l, default: 1] *= factor }
                    } else {
                        e.learningRate *= factor
                    }
                case .gain: e.gain *= factor
                case .temperature: e.temperature *= factor
                case .consolidation: e.consolidation *= factor
                case .horizon: e.horizon *= factor
                case .threshold: break
                }
            }
        }
        effects = replay?.effects(at: replayStep) ?? e
        if isActive {
            for t in NeuromodulationSpec.Target.allCases where spec.uses(t) {
                effectWindow[t.rawValue, default: 0] += value(of: t, in: effects)
            }
            effectWindowCount += 1
        }
    }

    private func value(of t: NeuromodulationSpec.Target, in e: ModulatorEffects) -> Double {
        switch t {
        case .learningRate: return e.learningRate
        case .gain: return e.gain
        case .threshold: return e.threshold
        case .temperature: return e.temperature
        case .consolidation: return e.consolidation
        case .horizon: return e.horizon
        }
    }

    /// Window means of each channel's signal (`nm.<modulator>.<signal>`) and of each effect in use
    /// (`nm.effect.<target>`), then resets the window.
    public func drainWindow(step: Int) -> [MetricSample] {
        var out: [MetricSample] = []
        for (i, ch) in spec.channels.enumerated() where states[i].windowCount > 0 {
            out.append(MetricSample(key: "nm.\(ch.modulator.rawValue).\(ch.signal.rawValue)", step: step,
                                    value: states[i].windowSum / Double(states[i].windowCount)))
            states[i].windowSum = 0
            states[i].windowCount = 0
        }
        if effectWindowCount > 0 {
            for (k, v) in effectWindow.sorted(by: { $0.key < $1.key }) {
                out.append(MetricSample(key: "nm.effect.\(k)", step: step, value: v / Double(effectWindowCount)))
            }
        }
        effectWindow.removeAll()
        effectWindowCount = 0
        return out
    }

    /// Mean of each channel's signal over the whole run (for the summary).
    public var runMeans: [String: Double] {
        var out: [String: Double] = [:]
        for (i, ch) in spec.channels.enumerated() where states[i].runCount > 0 {
            out["\(ch.modulator.rawValue).\(ch.signal.rawValue)"] = states[i].runSum / Double(states[i].runCount)
        }
        return out
    }

    // MARK: - Checkpoint state (named fields; doubles round-trip exactly through JSON)

    /// Everything the system carries from step to step, by name.
    public struct State: Codable, Equatable {
        var states: [ChannelState]
        var detector: ChannelState
        var stepsSinceChange: Int
        var detectedBoundaries: Int
        var effects: ModulatorEffects
        var effectWindow: [String: Double]
        var effectWindowCount: Int
    }

    public var state: State {
        State(states: states, detector: detector, stepsSinceChange: stepsSinceChange, detectedBoundaries: detectedBoundaries,
              effects: effects, effectWindow: effectWindow, effectWindowCount: effectWindowCount)
    }

    public func restore(_ s: State) throws {
        guard s.states.count == states.count else { throw CheckpointError("neuromodulator state does not match the spec") }
        states = s.states
        detector = s.detector
        stepsSinceChange = s.stepsSinceChange
        detectedBoundaries = s.detectedBoundaries
        effects = s.effects
        effectWindow = s.effectWindow
        effectWindowCount = s.effectWindowCount
    }
}
