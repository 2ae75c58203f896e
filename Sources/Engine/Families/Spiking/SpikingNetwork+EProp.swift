import Foundation
import CBLAS

extension SpikingNetwork {
    /// e-prop for the hidden layer (Bellec et al., 2020), with a leaky readout y[t] = κ·y[t−1] + W_out·z[t]
    /// and logits = mean over t of y. With L_j = Σ_k B_jk·∂L/∂logit_k (B = W_outᵀ, or fixed random):
    ///   ΔW_ji ∝ Σ_t L_j · (c_t / T) · ψ_j[t] · ε_i[t],   c_t = (1 − κ^(T−t)) / (1 − κ)
    /// where ψ is the surrogate derivative and ε_i[t] = β·ε_i[t−1] + x_i[t] the eligibility vector
    /// (presynaptic activity filtered by the membrane; for recurrent weights x = z[t−1]). The
    /// readout weights get their exact gradient. Without recurrence and with symmetric feedback
    /// this equals BPTT with the reset detached; with recurrence it drops the paths through other
    /// neurons' future activity, which is what makes it online and local.
    func epropBackward(feedback: FloatBuffer?) {
        for g in gradients { g.fill(0) }
        let b = batch, rows = steps * b, T = steps
        let nIn = sizes[0], n = sizes[1], classes = sizes[2]
        // Readout: exact gradient (as in BPTT).
        readoutGradients()
        // Learning signal per sample and hidden neuron: L = dlogits · Bᵀ (B is n × classes).
        let dLogits = gradSpikesPointer(2)
        let B = feedback?.pointer ?? weights[1].pointer
        var signal = [Float](repeating: 0, count: b * n)
        signal.withUnsafeMutableBufferPointer { s in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(b), Int32(n), Int32(classes),
                        1, dLogits, Int32(classes), B, Int32(classes), 0, s.baseAddress!, Int32(n))
        }
        // P[t, b, j] = L[b, j] · c_t/T · ψ_j[t]
        let kappa = Float(spec.decay(spec.tauMem))
        let U = membranePointer(0)
        let P = gradCurrentPointer(0)
        let slope = Float(spec.surrogateSlope)
        for t in 0..<T {
            let c = (1 - powf(kappa, Float(T - t))) / (1 - kappa) / Float(T)
            for bi in 0..<b {
                for j in 0..<n {
                    let o = (t * b + bi) * n + j
                    let x = U[o] - (theta[0].pointer[j] + thresholdShift)
                    let d = 1 + slope * abs(x)
                    P[o] = signal[bi * n + j] * c / (d * d) * inputGain
                }
            }
        }
        // Eligibility vectors of the inputs, the recurrent inputs and the bias, filtered by β.
        let be = beta[0].pointer[0]
        let eps = FloatBuffer(count: rows * nIn)
        let x = inputPointer(rows: rows)
        for t in 0..<T {
            for i in 0..<(b * nIn) {
                eps.pointer[t * b * nIn + i] = x[t * b * nIn + i] + (t > 0 ? be * eps.pointer[(t - 1) * b * nIn + i] : 0)
            }
        }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(nIn), Int32(n), Int32(rows),
                    1, eps.pointer, Int32(nIn), P, Int32(n), 0, gradients[0].pointer, Int32(n))
        var biasTrace: Float = 0
        for t in 0..<T {
            biasTrace = 1 + be * biasTrace
            for bi in 0..<b { for j in 0..<n { gradients[1].pointer[j] += P[(t * b + bi) * n + j] * biasTrace } }
        }
        if spec.recurrent && T > 1 {
            let z = spikesPointer(1)
            let epsRec = FloatBuffer(count: rows * n)
            for t in 1..<T {
                for i in 0..<(b * n) {
                    epsRec.pointer[t * b * n + i] = z[(t - 1) * b * n + i] + be * epsRec.pointer[(t - 1) * b * n + i]
                }
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(n), Int32(rows),
                        1, epsRec.pointer, Int32(n), P, Int32(n), 0, gradients[4].pointer, Int32(n))
        }
    }
}
