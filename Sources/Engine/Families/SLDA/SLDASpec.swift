import Foundation
import Support

/// Streaming linear discriminant analysis (`model.kind` `slda`): a reference point for continual
/// learning on raw pixels (Hayes & Kanan, 2020). `model.layers` is `[inputs, classes]`.
public struct SLDASpec: Sendable, Equatable, Codable {
    /// ε of the shrinkage (1 − ε)·Σ + ε·I applied to the shared covariance before inverting it.
    public var shrinkage: Double

    static func parse(_ m: inout FieldReader) throws(SpecError) -> SLDASpec {
        var r = try FieldReader(m.object("slda"), path: "model.slda")
        let spec = SLDASpec(shrinkage: try r.double("shrinkage", default: 1e-4, in: 0...1, openLower: true))
        try r.rejectUnknown()
        return spec
    }
}
