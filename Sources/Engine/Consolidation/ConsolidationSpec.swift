import Foundation
import Support

/// Weight consolidation between tasks: the baselines neuromodulation is compared with.
public struct ConsolidationSpec: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case none
        /// Elastic weight consolidation (Kirkpatrick et al., 2017): one quadratic anchor per task.
        case ewc
        /// Online EWC (Schwarz et al., 2018): one anchor, Fisher decayed by `gamma` at each task.
        case onlineEWC = "online_ewc"
        /// Synaptic Intelligence (Zenke et al., 2017): importance from the path integral of the gradient.
        case si
    }

    public var kind: Kind
    /// λ (EWC, online EWC) or c (SI).
    public var strength: Double
    /// Online EWC's decay of the running Fisher.
    public var gamma: Double
    /// SI's damping ξ.
    public var damping: Double
    /// Training samples of a finished task used to estimate its diagonal Fisher (EWC variants).
    public var fisherSamples: Int
    /// How the EWC variants estimate the Fisher information (nil in specs stored before it existed: empirical).
    public var fisher: Fisher?

    /// The diagonal Fisher information of a finished task.
    public enum Fisher: String, Sendable, Codable, CaseIterable {
        /// The expectation over the model's own predictive distribution: Σ_c p(c|x)·(∂ log p(c|x)/∂θ)²
        /// per sample (the true Fisher; one backward pass per class).
        case exact
        /// The squared gradient of the observed label only (the "empirical Fisher").
        case empirical
    }

    enum CodingKeys: String, CodingKey { case kind, strength, gamma, damping, fisherSamples = "fisher_samples", fisher }

    public static let none = ConsolidationSpec(kind: .none, strength: 0, gamma: 1, damping: 0.1, fisherSamples: 0, fisher: nil)

    static func parse(_ value: JSONValue?) throws(SpecError) -> ConsolidationSpec {
        guard let value else { return .none }
        var r = try FieldReader(value, path: "consolidation")
        let kind = Kind(rawValue: try r.string("kind", default: "none", oneOf: Kind.allCases.map(\.rawValue)))!
        // 1000 suits both families under SGD here (measured on domain-incremental split Fashion-MNIST).
        let defaultStrength: Double = 1000
        let usesFisher = kind == .ewc || kind == .onlineEWC
        if !usesFisher, let key = ["fisher", "fisher_samples"].first(where: { r.object[$0] != nil && r.object[$0] != .null }), kind != .none {
            throw SpecError("consolidation.\(key)", "applies to ewc and online_ewc only")
        }
        let fisher: Fisher? = usesFisher
            ? Fisher(rawValue: try r.string("fisher", default: Fisher.exact.rawValue, oneOf: Fisher.allCases.map(\.rawValue)))
            : nil
        // The exact Fisher takes all of a task's training images by default (60,000 ≥ any task);
        // the empirical one keeps its earlier default of 1,000.
        let spec = ConsolidationSpec(
            kind: kind,
            strength: try r.double("strength", default: kind == .none ? 0 : defaultStrength, in: 0...1e9),
            gamma: try r.double("gamma", default: 1.0, in: 0...1),
            damping: try r.double("damping", default: 0.1, in: 0...1e3, openLower: true),
            fisherSamples: try r.int("fisher_samples", default: fisher == .empirical ? 1000 : 60_000, in: 1...60_000),
            fisher: fisher)
        try r.rejectUnknown()
        // Without consolidation the other fields mean nothing: one normal form.
        return kind == .none ? .none : spec
    }
}
