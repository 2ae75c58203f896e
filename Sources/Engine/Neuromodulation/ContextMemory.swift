import Foundation

/// Which context an input belongs to, recalled from an associative memory (selection `memory` of
/// ``ContextInference``). The memory learns the way the fly's mushroom body learns an odour's
/// valence (FlyModel, Shen, Dasgupta & Navlakha 2021): a fixed sparse random expansion of the
/// input, a k-winner-take-all code, and associative synapses from the active code units to one
/// memory output per (context, class) pair — the context being trained and the sample's class —
/// a fixed increment per sample. An input's context is that of the pair its code drives most.
/// Pairs rather than contexts alone: in class-incremental learning a pair is a class, which the
/// code tells apart better than a group of classes; in domain-incremental learning, where every
/// context holds the same classes, a pair is a (domain, class) combination.
///
/// Nothing here stores images: the memory is the counts on `units × (contexts · classes)`
/// synapses. The rule only ever adds to the synapses of the sample's own pair, so what it learned
/// of an old context is never overwritten by a new one. The projection is regenerated from the run
/// seed, so checkpoints carry the synapses only (`context_memory.readout`).
public final class ContextMemory {
    /// Code units unless the spec sets `memory_units`, the share of them active per input, and
    /// inputs sampled per unit.
    public static let defaultUnits = 2_000
    public static let active = 0.05
    public static let connections = 40

    let code: SparseCode
    let classes: Int

    public init(inputs: Int, units: Int, contexts: Int, classes: Int, seed: UInt64) {
        self.classes = classes
        let spec = SparseSpec(active: Self.active, connections: min(inputs, Self.connections), dopamine: "constant")
        code = SparseCode(inputs: inputs, units: units, classes: contexts * classes, spec: spec, seed: seed ^ 0xC0_7E47)
    }

    /// The associative synapses (units × pairs, pair = context · classes + class), for checkpoints.
    public var readout: FloatBuffer { code.readout }
    public var shape: [Int] { [code.units, code.classes] }

    /// Associates each of `count` rows of `x` with `context` and its label.
    public func learn(_ x: UnsafePointer<Float>, count: Int, context: Int, labels: UnsafePointer<Int32>) {
        let k = code.k, pairs = code.classes
        encode(x, count: count)
        let w = code.readout.pointer
        active.withUnsafeBufferPointer { a in
            for r in 0..<count {
                let pair = context * classes + Int(labels[r])
                for i in 0..<k { w[Int(a[r * k + i]) * pairs + pair] += 1 }
            }
        }
    }

    /// Per row of `x`: of the contexts in `pool` (never empty), the one whose pair with a class of
    /// its group (`groups[c][y]`: class y was trained in context c) scores highest; ties to the
    /// earlier.
    public func recall(_ x: UnsafePointer<Float>, count: Int, pool: [Int], groups: [[Bool]]) -> [Int] {
        let k = code.k, pairs = code.classes
        encode(x, count: count)
        let w = code.readout.pointer
        var score = [Float](repeating: 0, count: pairs)
        return active.withUnsafeBufferPointer { a in
            (0..<count).map { r in
                for p in 0..<pairs { score[p] = 0 }
                for i in 0..<k {
                    let row = w + Int(a[r * k + i]) * pairs
                    for p in 0..<pairs { score[p] += row[p] }
                }
                var best = pool[0], top = -Float.infinity
                for c in pool {
                    for y in 0..<classes where groups[c][y] && score[c * classes + y] > top { top = score[c * classes + y]; best = c }
                }
                return best
            }
        }
    }

    private var active: [Int32] = []

    private func encode(_ x: UnsafePointer<Float>, count: Int) {
        if active.count < count * code.k { active = [Int32](repeating: 0, count: count * code.k) }
        active.withUnsafeMutableBufferPointer { code.encode(x, count: count, into: $0.baseAddress!) }
    }
}
