import Foundation

/// Context-dependent gating (Masse et al., 2018): each task keeps a fixed random fraction
/// (`neuromodulation.context.gating_keep`) of every hidden layer's units, drawn from the seed —
/// so training and serving derive the same masks.
public enum ContextGating {
    /// Per hidden layer, the 0/1 unit mask of `task` (empty when the spec does not gate).
    public static func unitMasks(spec: ExperimentSpec, task: Int) -> [FloatBuffer?] {
        guard let keep = spec.neuromodulation.context.gatingKeep else { return [] }
        return (1..<(spec.model.layers.count - 1)).map { l in
            let width = spec.model.layers[l]
            var g = RandomSource(seed: spec.seed, stream: 7000 + UInt64(task) * 100 + UInt64(l))
            let kept = Set(g.permutation(width).prefix(max(1, Int((Double(width) * keep).rounded()))))
            return FloatBuffer((0..<width).map { kept.contains(Int32($0)) ? 1 : 0 })
        }
    }
}
