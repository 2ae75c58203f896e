import Foundation
import CBLAS

/// The sparse network: x → P·(x − mean(x)) with P a fixed random binary projection (each code unit
/// samples `connections` inputs) → the top k code units set to 1, the rest 0 → scores h·W.
///
/// Learning (the third factor): for each sample, dopamine = outcome − expected outcome = 1 − p(y|x),
/// with p the softmax of the scores (the network's own expectation of being right); only the
/// synapses from active code units to the correct class y change, by lr · dopamine. Nothing else
/// is plastic, so what an old class learned is overwritten only through its own synapses.
/// Follows FlyModel (Shen, Dasgupta & Navlakha 2021: fixed sparse expansion, k-WTA, associative
/// updates of the correct class's synapses only), with the update scaled by a reward-prediction
/// error as in AGREL/NACA-style three-factor rules instead of FlyModel's fixed increment.
public final class SparseCode {
    public let inputs: Int
    public let units: Int
    public let classes: Int
    public let k: Int
    /// Whether updates are scaled by the reward-prediction error (else a fixed increment).
    public let gatedByDopamine: Bool
    /// The fixed projection (inputs × units, row-major) and the plastic readout (units × classes).
    public let projection: FloatBuffer
    public let readout: FloatBuffer
    private var centered: [Float] = []
    private var drive: [Float] = []
    private var scratch: [Float] = []

    public init(inputs: Int, units: Int, classes: Int, spec: SparseSpec, seed: UInt64) {
        self.inputs = inputs
        self.units = units
        self.classes = classes
        k = max(1, Int((Double(units) * spec.active).rounded()))
        gatedByDopamine = spec.dopamine == "rpe"
        projection = FloatBuffer(count: inputs * units)
        readout = FloatBuffer(count: units * classes)
        var rng = RandomSource(seed: seed, stream: 4_000)
        for u in 0..<units {
            for i in rng.permutation(inputs).prefix(spec.connections) { projection[Int(i) * units + u] = 1 }
        }
    }

    /// The active code units of each of `count` rows of `x`.
    public func code(_ x: UnsafePointer<Float>, count: Int) -> [[Int]] {
        var flat = [Int32](repeating: 0, count: count * k)
        flat.withUnsafeMutableBufferPointer { encode(x, count: count, into: $0.baseAddress!) }
        return (0..<count).map { r in flat[(r * k)..<((r + 1) * k)].map(Int.init) }
    }

    /// Writes the k active code units of each of `count` rows of `x` into `active` (`count × k`,
    /// ascending per row): the k largest drives, ties to the lower index, so the code is
    /// deterministic. Allocates nothing once its scratch buffers have grown to `count`.
    public func encode(_ x: UnsafePointer<Float>, count: Int, into active: UnsafeMutablePointer<Int32>) {
        if centered.count < count * inputs { centered = [Float](repeating: 0, count: count * inputs) }
        if drive.count < count * units { drive = [Float](repeating: 0, count: count * units) }
        if scratch.count < units { scratch = [Float](repeating: 0, count: units) }
        centered.withUnsafeMutableBufferPointer { c in
            for r in 0..<count {
                var mean: Float = 0
                for j in 0..<inputs { mean += x[r * inputs + j] }
                mean /= Float(inputs)
                for j in 0..<inputs { c[r * inputs + j] = x[r * inputs + j] - mean }
            }
            drive.withUnsafeMutableBufferPointer { d in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(units), Int32(inputs),
                            1, c.baseAddress!, Int32(inputs), projection.pointer, Int32(units), 0, d.baseAddress!, Int32(units))
            }
        }
        let (width, k) = (units, self.k)
        drive.withUnsafeBufferPointer { d in
            for r in 0..<count {
                let row = d.baseAddress! + r * width
                scratch.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: row, count: width) }
                let threshold = Self.kthLargest(&scratch, k, count: width)
                var above = 0
                for u in 0..<width where row[u] > threshold { above += 1 }
                var ties = k - above, n = 0
                let out = active + r * k
                for u in 0..<width {
                    let v = row[u]
                    if v > threshold || (v == threshold && ties > 0) {
                        if v == threshold { ties -= 1 }
                        out[n] = Int32(u)
                        n += 1
                    }
                }
            }
        }
    }

    /// The k-th largest value (quickselect; reorders `v`).
    static func kthLargest(_ values: inout [Float], _ k: Int, count: Int? = nil) -> Float {
        values.withUnsafeMutableBufferPointer { v in
            var lo = 0, hi = (count ?? v.count) - 1
            let target = k - 1
            while lo < hi {
                let pivot = v[(lo + hi) / 2]
                var i = lo, j = hi
                while i <= j {
                    while v[i] > pivot { i += 1 }
                    while v[j] < pivot { j -= 1 }
                    if i <= j { v.swapAt(i, j); i += 1; j -= 1 }
                }
                if target <= j { hi = j } else if target >= i { lo = i } else { return v[target] }
            }
            return v[target]
        }
    }

    /// Softmax of the scores of one code over `allowed` outputs (all when nil).
    public func probabilities(_ active: [Int], allowed: [Bool]? = nil) -> [Float] {
        var s = [Float](repeating: 0, count: classes)
        for u in active { for c in 0..<classes { s[c] += readout[u * classes + c] } }
        if let allowed { for c in 0..<classes where !allowed[c] { s[c] = -.infinity } }
        let top = s.max() ?? 0
        let e = s.map { top.isFinite && $0.isFinite ? Foundation.exp($0 - top) : 0 }
        let z = e.reduce(0, +)
        return z > 0 ? e.map { $0 / z } : [Float](repeating: 1 / Float(classes), count: classes)
    }

    /// One dopamine-gated update for a sample: returns (loss, correct) before the update.
    public func learn(_ active: [Int], label y: Int, rate: Float, allowed: [Bool]? = nil) -> (loss: Double, correct: Bool, dopamine: Double) {
        let p = probabilities(active, allowed: allowed)
        let best = p.indices.max { p[$0] < p[$1] } ?? 0
        let dopamine = gatedByDopamine ? 1 - p[y] : 1
        let step = rate * dopamine
        for u in active { readout[u * classes + y] += step }
        return (-Foundation.log(Double(p[y]) + 1e-12), best == y, Double(dopamine))
    }
}
