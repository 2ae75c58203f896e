import Foundation
import CBLAS

/// Applies one layer's gradient to its parameters. Plain SGD is fused into the weight-gradient
/// GEMM (`W ← W − lr·Xᵀδ` with β = 1), so no gradient buffer is written; Adam keeps moments.
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

    public init(spec: ExperimentSpec.OptimizerSpec, sizes: [Int]) {
        kind = spec.kind
        learningRate = Float(spec.learningRate)
        beta1 = Float(spec.beta1)
        beta2 = Float(spec.beta2)
        epsilon = Float(spec.epsilon)
        if kind == .adam {
            for l in 0..<(sizes.count - 1) {
                let nw = sizes[l] * sizes[l + 1], nb = sizes[l + 1]
                moments.append((FloatBuffer(count: nw), FloatBuffer(count: nw), FloatBuffer(count: nb), FloatBuffer(count: nb)))
                gradW.append(FloatBuffer(count: nw))
                gradB.append(FloatBuffer(count: nb))
            }
        }
    }

    /// Marks the start of a training step (Adam's t).
    public func beginStep() {
        if kind == .adam { t += 1 }
    }

    func update(layer l: Int, weights: FloatBuffer, bias: FloatBuffer, inputs: UnsafePointer<Float>,
                delta: UnsafePointer<Float>, batch: Int, fanIn: Int, fanOut: Int) {
        switch kind {
        case .sgd:
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(fanIn), Int32(fanOut), Int32(batch),
                        -learningRate, inputs, Int32(fanIn), delta, Int32(fanOut), 1, weights.pointer, Int32(fanOut))
            let b = bias.pointer
            for r in 0..<batch {
                let d = delta + r * fanOut
                for c in 0..<fanOut { b[c] -= learningRate * d[c] }
            }
        case .adam:
            let gw = gradW[l].pointer, gb = gradB[l].pointer
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(fanIn), Int32(fanOut), Int32(batch),
                        1, inputs, Int32(fanIn), delta, Int32(fanOut), 0, gw, Int32(fanOut))
            gb.update(repeating: 0, count: fanOut)
            for r in 0..<batch {
                let d = delta + r * fanOut
                for c in 0..<fanOut { gb[c] += d[c] }
            }
            let step = learningRate * Float((1 - pow(Double(beta2), Double(t))).squareRoot() / (1 - pow(Double(beta1), Double(t))))
            let m = moments[l]
            adam(weights.pointer, gw, m.mW.pointer, m.vW.pointer, weights.count, step)
            adam(bias.pointer, gb, m.mB.pointer, m.vB.pointer, bias.count, step)
        }
    }

    private func adam(_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                      _ v: UnsafeMutablePointer<Float>, _ n: Int, _ step: Float) {
        let b1 = beta1, b2 = beta2, c1 = 1 - beta1, c2 = 1 - beta2, eps = epsilon
        for i in 0..<n {
            let gi = g[i]
            let mi = b1 * m[i] + c1 * gi
            let vi = b2 * v[i] + c2 * gi * gi
            m[i] = mi
            v[i] = vi
            p[i] -= step * mi / (vi.squareRoot() + eps)
        }
    }
}
