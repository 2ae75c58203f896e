import Foundation
import CBLAS

/// A fully connected network `sizes[0] → … → sizes[L]` with one hidden activation and a softmax
/// output. Weights are row-major `in × out` (as `x @ W`), so a batch is `B × in`.
///
/// All dense math goes through `cblas_sgemm`. Work buffers are allocated once per batch size, so
/// a training step allocates nothing.
public final class MLP {
    public let sizes: [Int]
    public let activation: ExperimentSpec.Activation
    public let weights: [FloatBuffer]
    public let biases: [FloatBuffer]

    /// acts[0] is the input batch, acts[l] the output of layer l; acts[L] holds probabilities.
    private var acts: [FloatBuffer] = []
    /// deltas[l] is dLoss/dZ of layer l (B × sizes[l+1]).
    private var deltas: [FloatBuffer] = []
    private var capacity = 0

    public var layerCount: Int { sizes.count - 1 }

    /// He-initialised (ReLU) or Glorot-like (tanh, sigmoid) weights from `rng`; zero biases.
    public init(sizes: [Int], activation: ExperimentSpec.Activation, rng: inout RandomSource) {
        self.sizes = sizes
        self.activation = activation
        var ws: [FloatBuffer] = []
        var bs: [FloatBuffer] = []
        for l in 0..<(sizes.count - 1) {
            let fanIn = sizes[l], fanOut = sizes[l + 1]
            let isOutput = l == sizes.count - 2
            let scale = (activation == .relu && !isOutput) ? (2.0 / Double(fanIn)).squareRoot() : (1.0 / Double(fanIn)).squareRoot()
            let w = FloatBuffer(count: fanIn * fanOut)
            for i in 0..<w.count { w.pointer[i] = Float(rng.normal() * scale) }
            ws.append(w)
            bs.append(FloatBuffer(count: fanOut))
        }
        weights = ws
        biases = bs
    }

    /// Parameter count (weights and biases).
    public var parameterCount: Int { weights.reduce(0) { $0 + $1.count } + biases.reduce(0) { $0 + $1.count } }

    private func ensureCapacity(_ batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        acts = sizes.map { FloatBuffer(count: batch * $0) }
        deltas = sizes.dropFirst().map { FloatBuffer(count: batch * $0) }
    }

    /// The input buffer of the next forward pass (B × sizes[0]); fill it, then call ``forward(batch:)``.
    public func inputBuffer(batch: Int) -> UnsafeMutablePointer<Float> {
        ensureCapacity(batch)
        return acts[0].pointer
    }

    /// Runs the network on the first `batch` rows of the input buffer; returns the B × classes
    /// probabilities (valid until the next call).
    @discardableResult
    public func forward(batch: Int) -> UnsafeMutablePointer<Float> {
        ensureCapacity(batch)
        for l in 0..<layerCount {
            let nIn = sizes[l], nOut = sizes[l + 1]
            let x = acts[l].pointer, z = acts[l + 1].pointer, b = biases[l].pointer
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(batch), Int32(nOut), Int32(nIn),
                        1, x, Int32(nIn), weights[l].pointer, Int32(nOut), 0, z, Int32(nOut))
            if l < layerCount - 1 {
                addBiasAndActivate(z, bias: b, rows: batch, cols: nOut)
            } else {
                for r in 0..<batch {
                    let row = z + r * nOut
                    for c in 0..<nOut { row[c] += b[c] }
                }
                Self.softmaxRows(z, rows: batch, cols: nOut)
            }
        }
        return acts[layerCount].pointer
    }

    /// One training step on the input buffer's first `batch` rows. Computes gradients of the mean
    /// cross-entropy and hands each layer's gradient to `update` (or fuses plain SGD into the GEMM).
    /// - Returns: summed loss and number of correct predictions over the batch.
    public func trainStep(batch: Int, labels: UnsafePointer<Int32>, optimizer: Optimizer) -> (loss: Double, correct: Int) {
        let probs = forward(batch: batch)
        let classes = sizes[layerCount]
        var loss = 0.0
        var correct = 0
        let dz = deltas[layerCount - 1].pointer
        let invB = 1 / Float(batch)
        for r in 0..<batch {
            let row = probs + r * classes
            let y = Int(labels[r])
            var best = 0
            for c in 1..<classes where row[c] > row[best] { best = c }
            if best == y { correct += 1 }
            loss -= Foundation.log(Double(row[y]) + 1e-12)
            let d = dz + r * classes
            for c in 0..<classes { d[c] = row[c] * invB }
            d[y] -= invB
        }
        for l in stride(from: layerCount - 1, through: 0, by: -1) {
            let nIn = sizes[l], nOut = sizes[l + 1]
            let delta = deltas[l].pointer
            if l > 0 {
                // dA_prev = delta · Wᵀ, then through the activation's derivative.
                let prev = deltas[l - 1].pointer
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(batch), Int32(nIn), Int32(nOut),
                            1, delta, Int32(nOut), weights[l].pointer, Int32(nOut), 0, prev, Int32(nIn))
                multiplyActivationDerivative(prev, outputs: acts[l].pointer, count: batch * nIn)
            }
            optimizer.update(layer: l, weights: weights[l], bias: biases[l], inputs: acts[l].pointer,
                             delta: delta, batch: batch, fanIn: nIn, fanOut: nOut)
        }
        return (loss, correct)
    }

    /// `z ← φ(z + b)` row by row, one pass, written so the loops vectorise (no branches).
    private func addBiasAndActivate(_ z: UnsafeMutablePointer<Float>, bias b: UnsafePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows {
            let row = z + r * cols
            switch activation {
            case .relu: VectorKernels.addBiasReLU(row, b, cols)
            case .tanh: for c in 0..<cols { row[c] = tanhf(row[c] + b[c]) }
            case .sigmoid: for c in 0..<cols { row[c] = 1 / (1 + expf(-(row[c] + b[c]))) }
            }
        }
    }

    /// `d ← d ⊙ φ'(y)`, expressed through the layer's outputs `y`.
    private func multiplyActivationDerivative(_ d: UnsafeMutablePointer<Float>, outputs y: UnsafePointer<Float>, count: Int) {
        switch activation {
        case .relu: VectorKernels.reluBackward(d, y, count)
        case .tanh: for i in 0..<count { d[i] *= 1 - y[i] * y[i] }
        case .sigmoid: for i in 0..<count { d[i] *= y[i] * (1 - y[i]) }
        }
    }

    static func softmaxRows(_ z: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows {
            let row = z + r * cols
            var m = row[0]
            for c in 1..<cols where row[c] > m { m = row[c] }
            var s: Float = 0
            for c in 0..<cols {
                let e = expf(row[c] - m)
                row[c] = e
                s += e
            }
            let inv = 1 / s
            for c in 0..<cols { row[c] *= inv }
        }
    }
}
