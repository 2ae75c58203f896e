import Foundation
import CBLAS
import CSpikeKernels

/// Per-step modulation of an MLP's forward and backward pass.
public struct Modulation: Sendable {
    /// Hidden units: y = m · φ(g · (Wx + b) − θ).
    public var gain: Float = 1
    public var threshold: Float = 0
    /// Per hidden layer, a 0/1 mask over units (context-dependent gating); nil = all units.
    public var unitMasks: [FloatBuffer?] = []
    /// Output softmax over these classes only (multi-head); nil = all.
    public var allowedOutputs: [Bool]?
    /// Softmax temperature.
    public var temperature: Float = 1

    public init() {}

    var isPlainHidden: Bool { gain == 1 && threshold == 0 && !unitMasks.contains { $0 != nil } }
    func mask(_ layer: Int) -> FloatBuffer? { layer < unitMasks.count ? unitMasks[layer] : nil }
}

/// What one forward pass over a training batch measured.
public struct BatchStatistics: Sendable {
    /// Summed cross-entropy over the batch.
    public var loss: Double
    public var correct: Int
    /// Summed predictive entropy divided by log(number of competing classes).
    public var normalizedEntropy: Double
}

/// A fully connected network `sizes[0] → … → sizes[L]` with one hidden activation and a softmax
/// output. Weights are row-major `in × out` (as `x @ W`), so a batch is `B × in`.
///
/// Dense math goes through `cblas_sgemm`, except the forward products of a row or two
/// (``product(_:rows:inputs:weights:outputs:into:)``). Work buffers are allocated once per batch size, so
/// a training step allocates nothing.
public final class MLP {
    /// Products of at most this many rows skip zero inputs row by row instead of one GEMM.
    static let smallBatchLimit = 2
    public let sizes: [Int]
    public let activation: ExperimentSpec.Activation
    public let weights: [FloatBuffer]
    public let biases: [FloatBuffer]
    public var modulation = Modulation()
    /// The last layer is linear (values, e.g. Q(s, a)) instead of a softmax.
    public var linearOutput = false
    /// An input-driven gate on the first hidden layer (nil: none).
    public var gate: ModulatoryGate?
    /// Learning rate of the gate network for the next update.
    var gateLearningRate: Float = 0

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

    /// Activations of hidden layer `l` (1-based like acts) from the last forward pass.
    public func hiddenOutputs(layer l: Int) -> UnsafePointer<Float> { UnsafePointer(acts[l].pointer) }

    /// Runs the network on the first `batch` rows of the input buffer; returns the B × classes
    /// probabilities (valid until the next call).
    @discardableResult
    public func forward(batch: Int) -> UnsafeMutablePointer<Float> {
        ensureCapacity(batch)
        let m = modulation
        for l in 0..<layerCount {
            let nIn = sizes[l], nOut = sizes[l + 1]
            let x = acts[l].pointer, z = acts[l + 1].pointer, b = biases[l].pointer
            Self.product(x, rows: batch, inputs: nIn, weights: weights[l].pointer, outputs: nOut, into: z)
            if l < layerCount - 1 {
                if m.isPlainHidden {
                    addBiasAndActivate(z, bias: b, rows: batch, cols: nOut)
                } else {
                    modulatedActivate(z, bias: b, rows: batch, cols: nOut, mask: m.mask(l)?.pointer, gain: m.gain, threshold: m.threshold)
                }
                if l == 0, let gate { gate.apply(x: x, hidden: z, batch: batch) }
            } else if linearOutput {
                for r in 0..<batch {
                    let row = z + r * nOut
                    for c in 0..<nOut { row[c] += b[c] }
                }
            } else {
                for r in 0..<batch {
                    let row = z + r * nOut
                    for c in 0..<nOut { row[c] += b[c] }
                    if let allowed = m.allowedOutputs {
                        for c in 0..<nOut where !allowed[c] { row[c] = -Float.greatestFiniteMagnitude }
                    }
                    if m.temperature != 1 {
                        let inv = 1 / m.temperature
                        for c in 0..<nOut { row[c] *= inv }
                    }
                }
                Self.softmaxRows(z, rows: batch, cols: nOut)
            }
        }
        return acts[layerCount].pointer
    }

    /// z = x·W for `rows` rows (x: rows × inputs, W: inputs × outputs, z: rows × outputs; all
    /// row-major): the product of every layer, and of an adapted readout, so the two agree bit
    /// for bit. A row or two reads only the rows of W whose inputs are not zero
    /// (`nm_weighted_rows`; GEMM would first pack all of W — measured, a single-image prediction
    /// spent ~23% of its time in OpenBLAS's packing copy — and GEMV reads every row); larger
    /// batches go through GEMM.
    static func product(_ x: UnsafePointer<Float>, rows: Int, inputs: Int, weights: UnsafePointer<Float>, outputs: Int,
                        into z: UnsafeMutablePointer<Float>) {
        if rows <= smallBatchLimit {
            nm_weighted_rows(x, rows, inputs, weights, outputs, z)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(outputs), Int32(inputs),
                        1, x, Int32(inputs), weights, Int32(outputs), 0, z, Int32(outputs))
        }
    }

    /// Forward pass over a training batch: loss, accuracy and entropy, keeping the activations
    /// for ``backwardAndUpdate``.
    public func forwardStatistics(batch: Int, labels: UnsafePointer<Int32>) -> BatchStatistics {
        let probs = forward(batch: batch)
        let classes = sizes[layerCount]
        let competing = modulation.allowedOutputs.map { $0.filter { $0 }.count } ?? classes
        let logClasses = Foundation.log(Double(max(competing, 2)))
        var loss = 0.0, entropy = 0.0, correct = 0
        for r in 0..<batch {
            let row = probs + r * classes
            let y = Int(labels[r])
            var best = 0
            var h: Float = 0
            for c in 0..<classes {
                if row[c] > row[best] { best = c }
                if row[c] > 0 { h -= row[c] * logf(row[c]) }
            }
            if best == y { correct += 1 }
            loss -= Foundation.log(Double(row[y]) + 1e-12)
            entropy += Double(h) / logClasses
        }
        return BatchStatistics(loss: loss, correct: correct, normalizedEntropy: entropy)
    }

    /// Backpropagates the mean cross-entropy of the last forward pass (optionally weighted per
    /// sample, e.g. by a reward prediction error) and lets `optimizer` update every layer.
    public func backwardAndUpdate(batch: Int, labels: UnsafePointer<Int32>, optimizer: Optimizer, lrScale: Float = 1,
                                  layerScales: [Int: Double] = [:],
                                  consolidator: Consolidator? = nil, sampleWeights: UnsafePointer<Float>? = nil) {
        computeOutputDelta(batch: batch, labels: labels, scale: 1 / (Float(batch) * modulation.temperature), sampleWeights: sampleWeights)
        propagateAndUpdate(batch: batch, optimizer: optimizer, lrScale: lrScale, layerScales: layerScales, consolidator: consolidator)
    }

    /// Backpropagates a given gradient of the loss with respect to the outputs (B × outputs) from
    /// the last forward pass, e.g. −δ at the chosen action for a value network, and updates.
    public func backwardAndUpdate(batch: Int, outputGradient: UnsafePointer<Float>, optimizer: Optimizer, lrScale: Float = 1) {
        deltas[layerCount - 1].pointer.update(from: outputGradient, count: batch * sizes[layerCount])
        propagateAndUpdate(batch: batch, optimizer: optimizer, lrScale: lrScale, layerScales: [:], consolidator: nil)
    }

    private func propagateAndUpdate(batch: Int, optimizer: Optimizer, lrScale: Float, layerScales: [Int: Double], consolidator: Consolidator?) {
        for l in stride(from: layerCount - 1, through: 0, by: -1) {
            let nIn = sizes[l], nOut = sizes[l + 1]
            if l > 0 { backpropagate(into: l - 1, from: l, batch: batch) }
            optimizer.update(layer: l, weights: weights[l], bias: biases[l], inputs: acts[l].pointer,
                             delta: deltas[l].pointer, batch: batch, fanIn: nIn, fanOut: nOut,
                             lrScale: lrScale * Float(layerScales[l] ?? 1), consolidator: consolidator)
        }
    }

    /// Forward, backward and update in one call (plain training, no modulators in between).
    @discardableResult
    public func trainStep(batch: Int, labels: UnsafePointer<Int32>, optimizer: Optimizer) -> (loss: Double, correct: Int) {
        let s = forwardStatistics(batch: batch, labels: labels)
        backwardAndUpdate(batch: batch, labels: labels, optimizer: optimizer)
        return (s.loss, s.correct)
    }

    /// Adds the batch's per-sample squared gradients (the empirical diagonal Fisher, unnormalised)
    /// to `fisherW`/`fisherB`: for a layer, Σₛ (xₛ ⊗ δₛ)² = (X∘X)ᵀ (Δ∘Δ), one GEMM.
    /// `reuseForward`: the activations of this batch's forward pass are still in place (backward
    /// passes read them and write only deltas), so it is not run again.
    public func accumulateSquaredGradients(batch: Int, labels: UnsafePointer<Int32>, fisherW: [FloatBuffer], fisherB: [FloatBuffer],
                                           sampleWeights: UnsafePointer<Float>? = nil, reuseForward: Bool = false) {
        if !reuseForward { forward(batch: batch) }
        computeOutputDelta(batch: batch, labels: labels, scale: 1 / modulation.temperature, sampleWeights: sampleWeights)
        for l in stride(from: layerCount - 1, through: 0, by: -1) {
            let nIn = sizes[l], nOut = sizes[l + 1]
            if l > 0 { backpropagate(into: l - 1, from: l, batch: batch) }
            let xs = FloatBuffer(count: batch * nIn), ds = FloatBuffer(count: batch * nOut)
            let x = acts[l].pointer, d = deltas[l].pointer
            for i in 0..<(batch * nIn) { xs.pointer[i] = x[i] * x[i] }
            for i in 0..<(batch * nOut) { ds.pointer[i] = d[i] * d[i] }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(nIn), Int32(nOut), Int32(batch),
                        1, xs.pointer, Int32(nIn), ds.pointer, Int32(nOut), 1, fisherW[l].pointer, Int32(nOut))
            let fb = fisherB[l].pointer
            for r in 0..<batch { for c in 0..<nOut { fb[c] += ds.pointer[r * nOut + c] } }
        }
    }

    // MARK: - Pieces

    private func computeOutputDelta(batch: Int, labels: UnsafePointer<Int32>, scale: Float, sampleWeights: UnsafePointer<Float>?) {
        let classes = sizes[layerCount]
        let probs = acts[layerCount].pointer
        let dz = deltas[layerCount - 1].pointer
        for r in 0..<batch {
            let row = probs + r * classes
            let d = dz + r * classes
            let s = scale * (sampleWeights?[r] ?? 1)
            for c in 0..<classes { d[c] = row[c] * s }
            d[Int(labels[r])] -= s
        }
    }

    /// deltas[target] = (deltas[source] · W[source]ᵀ) ⊙ φ'(acts[source]) ⊙ gain ⊙ mask.
    private func backpropagate(into target: Int, from source: Int, batch: Int) {
        let nIn = sizes[source], nOut = sizes[source + 1]
        let prev = deltas[target].pointer
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(batch), Int32(nIn), Int32(nOut),
                    1, deltas[source].pointer, Int32(nOut), weights[source].pointer, Int32(nOut), 0, prev, Int32(nIn))
        var y = UnsafePointer(acts[source].pointer)
        let count = batch * nIn
        if target == 0, let gate {
            gate.backward(x: acts[0].pointer, d: prev, batch: batch, learningRate: gateLearningRate)
            y = gate.ungatedOutputs
        }
        switch activation {
        case .relu: VectorKernels.reluBackward(prev, y, count)
        case .tanh: for i in 0..<count { prev[i] *= 1 - y[i] * y[i] }
        case .sigmoid: for i in 0..<count { prev[i] *= y[i] * (1 - y[i]) }
        }
        let m = modulation
        if !m.isPlainHidden {
            let g = m.gain
            if let mask = m.mask(target)?.pointer {
                for r in 0..<batch { for c in 0..<nIn { prev[r * nIn + c] *= g * mask[c] } }
            } else if g != 1 {
                for i in 0..<count { prev[i] *= g }
            }
        }
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

    /// `z ← m ⊙ φ(g·(z + b) − θ)`.
    private func modulatedActivate(_ z: UnsafeMutablePointer<Float>, bias b: UnsafePointer<Float>, rows: Int, cols: Int,
                                   mask: UnsafePointer<Float>?, gain g: Float, threshold th: Float) {
        if activation == .relu && mask == nil {
            for r in 0..<rows { VectorKernels.affineReLU(z + r * cols, b, cols, gain: g, threshold: th) }
            return
        }
        for r in 0..<rows {
            let row = z + r * cols
            for c in 0..<cols {
                let a = g * (row[c] + b[c]) - th
                let y: Float
                switch activation {
                case .relu: y = max(a, 0)
                case .tanh: y = tanhf(a)
                case .sigmoid: y = 1 / (1 + expf(-a))
                }
                row[c] = mask.map { y * $0[c] } ?? y
            }
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

extension MLP {
    /// Adds the batch's exact (expected) diagonal Fisher, Σ_r Σ_c p(c|x_r)·(∂ log p(c|x_r)/∂θ)², to
    /// `fisherW`/`fisherB`: one weighted squared-gradient pass per output class, with sample weights
    /// √p(c|x_r) (the output delta, and so the gradient, is linear in the weight). Reads the inputs
    /// already in the input buffer; one forward pass serves every class.
    public func accumulateExpectedFisher(batch: Int, fisherW: [FloatBuffer], fisherB: [FloatBuffer]) {
        let classes = sizes[layerCount]
        let p = forward(batch: batch)
        let probabilities = Array(UnsafeBufferPointer(start: p, count: batch * classes))
        var labels = [Int32](repeating: 0, count: batch)
        var weights = [Float](repeating: 0, count: batch)
        for c in 0..<classes {
            var any = false
            for r in 0..<batch {
                labels[r] = Int32(c)
                weights[r] = probabilities[r * classes + c].squareRoot()
                any = any || weights[r] > 0
            }
            guard any else { continue }   // an output masked off for every sample (task-incremental heads)
            labels.withUnsafeBufferPointer { l in
                weights.withUnsafeBufferPointer { w in
                    accumulateSquaredGradients(batch: batch, labels: l.baseAddress!, fisherW: fisherW, fisherB: fisherB,
                                               sampleWeights: w.baseAddress!, reuseForward: true)
                }
            }
        }
    }
}
