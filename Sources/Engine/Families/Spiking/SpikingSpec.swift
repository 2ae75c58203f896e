import Foundation

/// A spiking network: leaky integrate-and-fire hidden layers (optionally adaptive, optionally
/// recurrent) and a readout, trained by surrogate-gradient BPTT.
public struct SpikingSpec: Sendable, Equatable, Codable {
    public enum Neuron: String, Sendable, Codable, CaseIterable {
        case lif
        /// Adaptive threshold: θ_eff = θ + β_a·a, a ← ρ·a + s (ρ = exp(−dt/τ_adapt)).
        case alif
    }

    public enum Readout: String, Sendable, Codable, CaseIterable {
        /// Output LIF neurons; loss = mean over steps of the softmax cross-entropy of the output
        /// spikes; prediction = most spikes (snnTorch's `ce_rate_loss`).
        case spikes
        /// Non-spiking leaky integrator; logits = mean over time of its membrane.
        case mean
        /// Non-spiking leaky integrator; logits = max over time of its membrane.
        case max
    }

    public enum Encoding: String, Sendable, Codable, CaseIterable {
        /// Bernoulli spikes with probability = pixel intensity, every step.
        case rate
        /// One spike per pixel above `latency_threshold`, earlier for brighter pixels.
        case latency
        /// The sample is a sequence [T, F] (event data, or an image's rows as time steps): step t
        /// feeds slice t, each channel spiking with probability equal to its value (0/1 data: exactly
        /// its events). `steps` = T; the input layer has F units.
        case sequence
    }

    public var neuron: Neuron
    public var steps: Int
    public var dt: Double
    /// Mean membrane time constant (same unit as dt).
    public var tauMem: Double
    /// Synaptic current time constant; 0 = the input current enters the membrane directly.
    public var tauSyn: Double
    public var threshold: Double
    /// `subtract` (u −= θ after a spike) or `zero` (u ← 0).
    public var reset: String
    public var tauAdapt: Double
    public var adaptation: Double
    public var recurrent: Bool
    public var readout: Readout
    public var encoding: Encoding
    public var latencyThreshold: Double
    public var surrogateSlope: Double
    /// Heterogeneity: per-neuron τ_mem ~ Gamma(shape, mean tau_mem) and θ ~ U[θ(1 − spread), θ(1 + spread)].
    public var heterogeneousInit: Bool
    public var tauShape: Double
    public var thresholdSpread: Double
    /// Train τ_mem (through β = exp(−dt/τ)) and θ per neuron by gradient descent.
    public var trainNeuronParameters: Bool
    /// Bounds on τ_mem, applied to heterogeneous initial values and after every update of trained
    /// ones (as Perez-Nieves et al. clamp β to [2/e, 0.995]). nil: τ ≥ 0 and β ≤ 0.9999
    /// (τ ≤ ≈10⁴·dt), the bounds runs had before these fields existed.
    public var tauMin: Double?
    public var tauMax: Double?
    /// `bptt` (surrogate-gradient backpropagation through time) or `eprop` (eligibility
    /// propagation: local eligibility traces × a broadcast learning signal; Bellec et al., 2020).
    public var learning: String
    /// e-prop's feedback weights for the learning signal: `symmetric` (the readout's) or `random` (fixed).
    public var feedback: String

    enum CodingKeys: String, CodingKey {
        case neuron, steps, dt, threshold, reset, adaptation, recurrent, readout, encoding
        case tauMem = "tau_mem", tauSyn = "tau_syn", tauAdapt = "tau_adapt", latencyThreshold = "latency_threshold"
        case surrogateSlope = "surrogate_slope", heterogeneousInit = "heterogeneous_init", tauShape = "tau_shape"
        case thresholdSpread = "threshold_spread", trainNeuronParameters = "train_neuron_parameters"
        case tauMin = "tau_min", tauMax = "tau_max"
        case learning, feedback
    }

    static func parse(_ m: inout FieldReader, limits: SpecLimits) throws(SpecError) -> SpikingSpec {
        var s = try FieldReader(m.object("snn"), path: "model.snn")
        let neuron = Neuron(rawValue: try s.string("neuron", default: "lif", oneOf: Neuron.allCases.map(\.rawValue)))!
        let spec = SpikingSpec(
            neuron: neuron,
            steps: try s.int("steps", default: 25, in: 1...limits.maxTimeSteps),
            dt: try s.double("dt", default: 1, in: 0...1000, openLower: true),
            tauMem: try s.double("tau_mem", default: 20, in: 0...1e5, openLower: true),
            tauSyn: try s.double("tau_syn", default: 0, in: 0...1e5),
            threshold: try s.double("threshold", default: 1, in: 0...100, openLower: true),
            reset: try s.string("reset", default: "subtract", oneOf: ["subtract", "zero"]),
            tauAdapt: try s.double("tau_adapt", default: 200, in: 0...1e6, openLower: true),
            adaptation: try s.double("adaptation", default: neuron == .alif ? 0.07 : 0, in: 0...100),
            recurrent: try s.bool("recurrent", default: false),
            readout: Readout(rawValue: try s.string("readout", default: "spikes", oneOf: Readout.allCases.map(\.rawValue)))!,
            encoding: Encoding(rawValue: try s.string("encoding", default: "rate", oneOf: Encoding.allCases.map(\.rawValue)))!,
            latencyThreshold: try s.double("latency_threshold", default: 0.2, in: 0...1),
            surrogateSlope: try s.double("surrogate_slope", default: 25, in: 0...1e4, openLower: true),
            heterogeneousInit: try s.bool("heterogeneous_init", default: false),
            tauShape: try s.double("tau_shape", default: 3, in: 0...1000, openLower: true),
            thresholdSpread: try s.double("threshold_spread", default: 0.2, in: 0...0.99),
            trainNeuronParameters: try s.bool("train_neuron_parameters", default: false),
            tauMin: s.raw("tau_min") == nil ? nil : try s.double("tau_min", in: 0...1e5, openLower: true),
            tauMax: s.raw("tau_max") == nil ? nil : try s.double("tau_max", in: 0...1e5, openLower: true),
            learning: try s.string("learning", default: "bptt", oneOf: ["bptt", "eprop"]),
            feedback: try s.string("feedback", default: "symmetric", oneOf: ["symmetric", "random"]))
        try s.rejectUnknown()
        if let lo = spec.tauMin, let hi = spec.tauMax, lo >= hi {
            throw SpecError("model.snn.tau_max", "must be above tau_min (\(lo)), got \(hi)")
        }
        if let lo = spec.tauMin, spec.tauMax == nil, spec.decay(lo) >= 0.9999 {
            throw SpecError("model.snn.tau_min", "must be below the default upper bound of τ (\(Int(-spec.dt / log(0.9999))) × dt) unless tau_max is given")
        }
        if (spec.tauMin != nil || spec.tauMax != nil) && !spec.heterogeneousInit && !spec.trainNeuronParameters {
            throw SpecError("model.snn.tau_max", "bounds apply to heterogeneous or trained time constants: set heterogeneous_init or train_neuron_parameters")
        }
        if spec.learning == "eprop" {
            // The form implemented: one LIF layer with a leaky mean readout and one β for all neurons.
            if spec.readout != .mean { throw SpecError("model.snn.readout", "e-prop here uses the leaky mean readout: set readout to mean") }
            if spec.neuron != .lif { throw SpecError("model.snn.neuron", "e-prop here supports lif neurons") }
            if spec.tauSyn != 0 { throw SpecError("model.snn.tau_syn", "e-prop here has no synaptic current: set tau_syn to 0") }
            if spec.heterogeneousInit || spec.trainNeuronParameters {
                throw SpecError("model.snn.heterogeneous_init", "e-prop here needs one membrane decay for all neurons (no heterogeneity)")
            }
        }
        return spec
    }

    /// Membrane decay for a time constant.
    func decay(_ tau: Double) -> Double { exp(-dt / tau) }

    /// The β range the bounds on τ allow.
    var betaBounds: ClosedRange<Float> {
        let upper = Float(tauMax.map(decay) ?? 0.9999)
        return min(Float(tauMin.map(decay) ?? 0), upper)...upper
    }
}

extension FieldReader {
    mutating func bool(_ key: String, default def: Bool) throws(SpecError) -> Bool {
        guard let v = raw(key) else { return def }
        guard case .bool(let b) = v else { throw SpecError(field(key), "must be true or false, got \(v.typeName)") }
        return b
    }
}
