import Foundation
import CBLAS

/// An input-driven plasticity gate for the first hidden layer, like ANML's neuromodulatory
/// network (Beaulieu et al., 2020): g = σ(W_m·x + b_m), one gate per hidden unit, multiplying
/// both the unit's activity and its gradient. Here it is learned jointly with the network by
/// backpropagation (SGD at the run's learning rate), not meta-learned.
public final class ModulatoryGate {
    public let inputs: Int
    public let units: Int
    public let weights: FloatBuffer
    public let bias: FloatBuffer
    /// Per batch: gate values (B × units) and the hidden layer's output before gating.
    private(set) var gates = FloatBuffer(count: 0)
    private(set) var ungated = FloatBuffer(count: 0)
    private var gateGradient = FloatBuffer(count: 0)
    private var capacity = 0
    /// Running sums for metrics: mean gate value and fraction of gates below one half.
    var windowSum = 0.0, windowClosed = 0.0, windowCount = 0.0
    /// Off during evaluation passes, so the metrics describe training batches only.
    var recordsStatistics = true

    public init(inputs: Int, units: Int, biasInit: Float, rng: inout RandomSource) {
        self.inputs = inputs
        self.units = units
        weights = FloatBuffer(count: inputs * units)
        let scale = (1.0 / Double(inputs)).squareRoot()
        for i in 0..<weights.count { weights.pointer[i] = Float(rng.normal() * scale) }
        bias = FloatBuffer(count: units)
        bias.fill(biasInit)
    }

    private func ensure(_ batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        gates = FloatBuffer(count: batch * units)
        ungated = FloatBuffer(count: batch * units)
        gateGradient = FloatBuffer(count: batch * units)
    }

    /// Gates `hidden` (B × units) in place from the layer's input `x` (B × inputs).
    func apply(x: UnsafePointer<Float>, hidden: UnsafeMutablePointer<Float>, batch: Int) {
        ensure(batch)
        let g = gates.pointer
        for r in 0..<batch { (g + r * units).update(from: bias.pointer, count: units) }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(batch), Int32(units), Int32(inputs),
                    1, x, Int32(inputs), weights.pointer, Int32(units), 1, g, Int32(units))
        let n = batch * units
        ungated.pointer.update(from: hidden, count: n)
        var sum = 0.0, closed = 0.0
        for i in 0..<n {
            let v = 1 / (1 + expf(-g[i]))
            g[i] = v
            hidden[i] *= v
            sum += Double(v)
            if v < 0.5 { closed += 1 }
        }
        if recordsStatistics {
            windowSum += sum / Double(n)
            windowClosed += closed / Double(n)
            windowCount += 1
        }
    }

    /// Given dL/dy of the gated layer in `d`: updates the gate network and leaves dL/dy·g in `d`
    /// (the activation derivative is applied by the caller from ``ungatedOutputs``).
    func backward(x: UnsafePointer<Float>, d: UnsafeMutablePointer<Float>, batch: Int, learningRate lr: Float) {
        let g = gates.pointer, u = ungated.pointer, dg = gateGradient.pointer
        for i in 0..<(batch * units) {
            dg[i] = d[i] * u[i] * g[i] * (1 - g[i])   // through σ
            d[i] *= g[i]
        }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(inputs), Int32(units), Int32(batch),
                    -lr, x, Int32(inputs), dg, Int32(units), 1, weights.pointer, Int32(units))
        for r in 0..<batch { for c in 0..<units { bias.pointer[c] -= lr * dg[r * units + c] } }
    }

    var ungatedOutputs: UnsafePointer<Float> { UnsafePointer(ungated.pointer) }

    func drainWindow(step: Int) -> [MetricSample] {
        guard windowCount > 0 else { return [] }
        defer { windowSum = 0; windowClosed = 0; windowCount = 0 }
        return [MetricSample(key: "gate.mean", step: step, value: windowSum / windowCount),
                MetricSample(key: "gate.closed_fraction", step: step, value: windowClosed / windowCount)]
    }
}
