import Foundation
import CBLAS

/// Applies one layer's gradient to its parameters. Plain SGD is fused into the weight-gradient
/// GEMM (`W ← W − lr·Xᵀδ` with β = 1), so no gradient buffer is written; Adam, and SGD under
/// Synaptic Intelligence (which needs the gradient itself), use an explicit gradient.
public final class Optimizer {
    public let kind: ExperimentSpec.OptimizerKind
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float
    /// Adam's step count (bias correction).
    public internal(set) var t = 0
    /// Adam moments per layer: (mW, vW, mB, vB). Empty for SGD.
    public internal(set) var moments: [(mW: FloatBuffer, vW: FloatBuffer, mB: FloatBuffer, vB: FloatBuffer)] = []
    private var gradW: [FloatBuffer] = []
    private var gradB: [FloatBuffer] = []
    private let sizes: [Int]

    public init(spec: ExperimentSpec.OptimizerSpec, sizes: [Int]) {
        kind = spec.kind
        learningRate = Float(spec.learningRate)
        beta1 = Float(spec.beta1)
        beta2 = Float(spec.beta2)
        epsilon = Float(spec.epsilon)
        self.sizes = sizes
        if kind == .adam {
            for l in 0..<(sizes.count - 1) {
                let nw = sizes[l] * sizes[l + 1], nb = sizes[l + 1]
                moments.append((FloatBuffer(count: nw), FloatBuffer(count: nw), FloatBuffer(count: nb), FloatBuffer(count: nb)))
            }
        }
    }

    /// Marks the start of a training step (Adam's t).
    public func beginStep() {
        if kind == .adam { t += 1 }
    }

    private func ensureGradientBuffers() {
        guard gradW.isEmpty else { return }
        for l in 0..<(sizes.count - 1) {
            gradW.append(FloatBuffer(count: sizes[l] * sizes[l + 1]))
            gradB.append(FloatBuffer(count: sizes[l + 1]))
        }
    }

    func update(layer l: Int, weights: FloatBuffer, bias: FloatBuffer, inputs: UnsafePointer<Float>,
                delta: UnsafePointer<Float>, batch: Int, fanIn: Int, fanOut: Int,
                lrScale: Float, consolidator: Consolidator?) {
        let lr = learningRate * lrScale
        let penalty = consolidator?.isActive == true ? consolidator : nil
        if kind == .sgd && consolidator?.needsGradients != true {
            // Penalty first (it reads θ before this step), then the fused GEMM.
            penalty?.applySGDPenalty(layer: l, weights: weights, bias: bias, learningRate: lr)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(fanIn), Int32(fanOut), Int32(batch),
                        -lr, inputs, Int32(fanIn), delta, Int32(fanOut), 1, weights.pointer, Int32(fanOut))
            let b = bias.pointer
            for r in 0..<batch {
                let d = delta + r * fanOut
                for c in 0..<fanOut { b[c] -= lr * d[c] }
            }
            return
        }
        ensureGradientBuffers()
        let gw = gradW[l].pointer, gb = gradB[l].pointer
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(fanIn), Int32(fanOut), Int32(batch),
                    1, inputs, Int32(fanIn), delta, Int32(fanOut), 0, gw, Int32(fanOut))
        gb.update(repeating: 0, count: fanOut)
        for r in 0..<batch {
            let d = delta + r * fanOut
            for c in 0..<fanOut { gb[c] += d[c] }
        }
        let parts: [(FloatBuffer, UnsafeMutablePointer<Float>, Bool)] = [(weights, gw, true), (bias, gb, false)]
        for (param, grad, isWeight) in parts {
            let n = param.count
            let p = param.pointer
            let anchor = penalty?.anchor(layer: l, weight: isWeight)
            let omega = consolidator?.needsGradients == true ? consolidator!.omega(layer: l, weight: isWeight).pointer : nil
            let strength = penalty?.effectiveStrength ?? 0
            switch kind {
            case .sgd:
                for i in 0..<n {
                    let g = grad[i]
                    var step = -lr * g
                    if let a = anchor {
                        // The penalty part taken proximally (see Consolidator.applySGDPenalty).
                        let c = lr * strength * a.precision.pointer[i]
                        step -= c / (1 + c) * (p[i] - a.target.pointer[i])
                    }
                    p[i] += step
                    if let omega { omega[i] -= g * step }
                }
            case .adam:
                let m = isWeight ? moments[l].mW.pointer : moments[l].mB.pointer
                let v = isWeight ? moments[l].vW.pointer : moments[l].vB.pointer
                let corrected = lr * Float((1 - pow(Double(beta2), Double(t))).squareRoot() / (1 - pow(Double(beta1), Double(t))))
                let b1 = beta1, b2 = beta2, c1 = 1 - beta1, c2 = 1 - beta2, eps = epsilon
                for i in 0..<n {
                    let g = grad[i]
                    var total = g
                    if let a = anchor { total += strength * a.precision.pointer[i] * (p[i] - a.target.pointer[i]) }
                    let mi = b1 * m[i] + c1 * total
                    let vi = b2 * v[i] + c2 * total * total
                    m[i] = mi
                    v[i] = vi
                    let step = -corrected * mi / (vi.squareRoot() + eps)
                    p[i] += step
                    if let omega { omega[i] -= g * step }
                }
            }
        }
    }
}

extension Optimizer {
    /// Adam's moments (tensors `optimizer.layers.<l>.{weight,bias}.{m,v}`) and step count.
    public func save(to w: inout CheckpointWriter) {
        for (l, m) in moments.enumerated() {
            w.tensor("optimizer.layers.\(l).weight.m", m.mW, shape: [sizes[l], sizes[l + 1]])
            w.tensor("optimizer.layers.\(l).weight.v", m.vW, shape: [sizes[l], sizes[l + 1]])
            w.tensor("optimizer.layers.\(l).bias.m", m.mB)
            w.tensor("optimizer.layers.\(l).bias.v", m.vB)
        }
        w.state("optimizer.t", t)
    }

    public func load(from r: CheckpointReader) throws {
        for (l, m) in moments.enumerated() {
            try r.tensor("optimizer.layers.\(l).weight.m", into: m.mW)
            try r.tensor("optimizer.layers.\(l).weight.v", into: m.vW)
            try r.tensor("optimizer.layers.\(l).bias.m", into: m.mB)
            try r.tensor("optimizer.layers.\(l).bias.v", into: m.vB)
        }
        t = try r.state("optimizer.t")
    }
}
