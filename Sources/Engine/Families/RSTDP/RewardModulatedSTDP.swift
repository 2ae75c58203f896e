import Foundation

/// The three-factor learning rule (Izhikevich, 2007; Frémaux & Gerstner, 2016): pair-based STDP
/// does not change weights directly but feeds an eligibility trace per synapse, and dopamine —
/// the third factor, driven by rewards or reward prediction errors — turns eligibility into
/// weight change:
///
///     x_pre ← x_pre·e^(−dt/τ+) + s_pre,   x_post ← x_post·e^(−dt/τ−) + s_post
///     STDP_ij = A+·x_pre_i·s_post_j − A−·x_post_j·s_pre_i
///     e_ij ← e_ij·e^(−dt/τ_e) + STDP_ij
///     d ← d·e^(−dt/τ_DA) + reward
///     W_ij ← clamp(W_ij + η·g·d·e_ij, w_min, w_max)
///
/// g is a neuromodulatory gain pulse on plasticity (1 unless set). Weights are `pre × post`.
public final class RewardModulatedSTDP {
    public struct Parameters: Sendable {
        public var aPlus = 1.0, aMinus = 1.05
        public var tauPlus = 20.0, tauMinus = 20.0
        public var tauEligibility = 200.0, tauDopamine = 20.0
        public var learningRate = 0.01
        public var wMin = 0.0, wMax = 4.0
        public var dt = 1.0
        public init() {}
    }

    public let parameters: Parameters
    public let pre: Int, post: Int
    public let weights: FloatBuffer
    public private(set) var eligibility: FloatBuffer
    public private(set) var dopamine = 0.0
    /// Temporary multiplier of plasticity (a neuromodulatory gain pulse).
    public var plasticityGain = 1.0
    private var preTrace: [Float]
    private var postTrace: [Float]

    public init(pre: Int, post: Int, weights: FloatBuffer, parameters: Parameters = Parameters()) {
        precondition(weights.count == pre * post)
        self.pre = pre
        self.post = post
        self.weights = weights
        self.parameters = parameters
        eligibility = FloatBuffer(count: pre * post)
        preTrace = [Float](repeating: 0, count: pre)
        postTrace = [Float](repeating: 0, count: post)
    }

    /// The presynaptic and postsynaptic traces (checkpoints).
    public var traces: (pre: [Float], post: [Float]) { (preTrace, postTrace) }

    /// Restores the traces and dopamine of a checkpoint (weights and eligibility are buffers).
    public func restore(preTrace: [Float], postTrace: [Float], dopamine: Double) {
        self.preTrace = preTrace
        self.postTrace = postTrace
        self.dopamine = dopamine
    }

    /// One time step: spikes of the presynaptic and postsynaptic neurons (0/1) and the reward
    /// delivered at this step.
    public func step(preSpikes: [Float], postSpikes: [Float], reward: Double) {
        let p = parameters
        let dPlus = Float(exp(-p.dt / p.tauPlus)), dMinus = Float(exp(-p.dt / p.tauMinus))
        let dE = Float(exp(-p.dt / p.tauEligibility))
        for i in 0..<pre { preTrace[i] = preTrace[i] * dPlus + preSpikes[i] }
        for j in 0..<post { postTrace[j] = postTrace[j] * dMinus + postSpikes[j] }
        let aPlus = Float(p.aPlus), aMinus = Float(p.aMinus)
        let e = eligibility.pointer
        for i in 0..<pre {
            let row = e + i * post
            let xPre = preTrace[i], sPre = preSpikes[i]
            for j in 0..<post {
                row[j] = row[j] * dE + aPlus * xPre * postSpikes[j] - aMinus * postTrace[j] * sPre
            }
        }
        dopamine = dopamine * exp(-p.dt / p.tauDopamine) + reward
        let k = Float(p.learningRate * plasticityGain * dopamine)
        guard k != 0 else { return }
        let w = weights.pointer, lo = Float(p.wMin), hi = Float(p.wMax)
        for i in 0..<(pre * post) { w[i] = min(hi, max(lo, w[i] + k * e[i])) }
    }
}
