import Foundation
import Support

/// Dopamine-gated sparse plasticity (`model.kind` `sparse`): a fixed random expansion of the input,
/// a k-winner-take-all binary code, and an associative readout whose only plastic synapses are
/// those from active units to the correct class, scaled by dopamine. `model.layers` is
/// `[inputs, code units, classes]`.
public struct SparseSpec: Sendable, Equatable, Codable {
    /// The share of code units active per input (k = active × units).
    public var active: Double
    /// Inputs each code unit samples (its fixed binary projection).
    public var connections: Int
    /// `rpe`: each update scaled by dopamine = 1 − p(correct class); `constant`: a fixed increment
    /// (FlyModel's rule — the ablation of dopamine gating).
    public var dopamine: String
    enum CodingKeys: String, CodingKey { case active, connections, dopamine }

    static func parse(_ m: inout FieldReader, inputs: Int) throws(SpecError) -> SparseSpec {
        var r = try FieldReader(m.object("sparse"), path: "model.sparse")
        let spec = SparseSpec(active: try r.double("active", default: 0.05, in: 0...0.5, openLower: true),
                              connections: try r.int("connections", default: min(inputs, 40), in: 1...inputs),
                              dopamine: try r.string("dopamine", default: "rpe", oneOf: ["rpe", "constant"]))
        try r.rejectUnknown()
        return spec
    }
}
