import Foundation
import Support

/// Parameters of reward-modulated STDP (the `rstdp` section; distal_reward protocol).
public struct RSTDPSpec: Sendable, Equatable, Codable {
    public var aPlus: Double
    public var aMinus: Double
    public var tauPlus: Double
    public var tauMinus: Double
    public var tauEligibility: Double
    public var tauDopamine: Double
    public var learningRate: Double
    public var wMax: Double
    /// Reward per rewarded pairing (the dopamine pulse).
    public var reward: Double
    /// The neuron: membrane decay per step and threshold.
    public var leak: Double
    public var threshold: Double
    public var initialWeight: Double
    /// Neuromodulatory gain pulses: windows of steps in which plasticity is multiplied by `factor`.
    public var gainPulses: [GainPulse]

    /// A temporary multiplier of plasticity (e.g. a phasic noradrenaline or acetylcholine burst):
    /// steps `start ..< start + duration` learn `factor` times as fast. Overlapping pulses multiply.
    public struct GainPulse: Sendable, Equatable, Codable {
        public var start: Int
        public var duration: Int
        public var factor: Double
        public func contains(_ step: Int) -> Bool { step >= start && step - start < duration }
    }

    /// The plasticity gain at `step`: the product of the factors of the pulses active then (1 if none).
    public func plasticityGain(atStep step: Int) -> Double {
        gainPulses.reduce(1.0) { $1.contains(step) ? $0 * $1.factor : $0 }
    }

    enum CodingKeys: String, CodingKey {
        case aPlus = "a_plus", aMinus = "a_minus", tauPlus = "tau_plus", tauMinus = "tau_minus"
        case tauEligibility = "tau_eligibility", tauDopamine = "tau_dopamine", learningRate = "learning_rate"
        case wMax = "w_max", reward, leak, threshold, initialWeight = "initial_weight", gainPulses = "gain_pulses"
    }

    static func parse(_ value: JSONValue?, applies: Bool) throws(SpecError) -> RSTDPSpec? {
        guard applies else {
            if value != nil { throw SpecError("rstdp", "applies to the distal_reward protocol only") }
            return nil
        }
        var r = try FieldReader(value, path: "rstdp")
        let spec = RSTDPSpec(
            aPlus: try r.double("a_plus", default: 1.0, in: 0...100),
            aMinus: try r.double("a_minus", default: 1.05, in: 0...100),
            tauPlus: try r.double("tau_plus", default: 20, in: 0...1e5, openLower: true),
            tauMinus: try r.double("tau_minus", default: 20, in: 0...1e5, openLower: true),
            tauEligibility: try r.double("tau_eligibility", default: 200, in: 0...1e6, openLower: true),
            tauDopamine: try r.double("tau_dopamine", default: 20, in: 0...1e6, openLower: true),
            learningRate: try r.double("learning_rate", default: 0.01, in: 0...10),
            wMax: try r.double("w_max", default: 4, in: 0...1000, openLower: true),
            reward: try r.double("reward", default: 0.5, in: 0...100),
            leak: try r.double("leak", default: 0.9, in: 0...1),
            threshold: try r.double("threshold", default: 6, in: 0...1e4, openLower: true),
            initialWeight: try r.double("initial_weight", default: 1, in: 0...1000),
            gainPulses: try parsePulses(r.raw("gain_pulses")))
        try r.rejectUnknown()
        return spec
    }

    /// At most this many gain pulses per run.
    public static let maxGainPulses = 64

    private static func parsePulses(_ value: JSONValue?) throws(SpecError) -> [GainPulse] {
        guard let value else { return [] }
        guard case .array(let items) = value else {
            throw SpecError("rstdp.gain_pulses", "must be an array of {start, duration, factor}")
        }
        guard items.count <= maxGainPulses else {
            throw SpecError("rstdp.gain_pulses", "has \(items.count) pulses; at most \(maxGainPulses) are allowed")
        }
        var pulses: [GainPulse] = []
        for (i, item) in items.enumerated() {
            var r = try FieldReader(item, path: "rstdp.gain_pulses[\(i)]")
            pulses.append(GainPulse(start: try r.int("start", in: 0...100_000_000),
                                    duration: try r.int("duration", in: 1...100_000_000),
                                    factor: try r.double("factor", in: 0...100)))
            try r.rejectUnknown()
        }
        return pulses
    }
}
