import Foundation

/// How a network family joins the engine: which specs it trains, how to build its training
/// session, and (when it can be served) its forward pass from a checkpoint.
public struct FamilyRegistration: Sendable {
    /// The family's key (also written into its checkpoints).
    public let kind: String
    /// Whether the family trains `spec` (the registry asks in order; the first that accepts wins).
    let accepts: @Sendable (ExperimentSpec) -> Bool
    let makeSession: @Sendable (ExperimentSpec, DatasetLibrary) throws -> TrainingSession
    /// nil: checkpoints of this family are not servable.
    let makeServable: (@Sendable (ExperimentSpec, Safetensors.File) throws -> ServableNetwork)?

    public init(kind: String, accepts: @escaping @Sendable (ExperimentSpec) -> Bool,
                makeSession: @escaping @Sendable (ExperimentSpec, DatasetLibrary) throws -> TrainingSession,
                makeServable: (@Sendable (ExperimentSpec, Safetensors.File) throws -> ServableNetwork)?) {
        self.kind = kind
        self.accepts = accepts
        self.makeSession = makeSession
        self.makeServable = makeServable
    }
}

/// Every network family, one registration line each: `model.kind` (and, for reward tasks, the
/// protocol) selects the family that trains and serves a spec.
public enum FamilyRegistry {
    public static let families: [FamilyRegistration] = [
        DistalRewardFamily.registration,
        RewardFamily.registration,
        IntertemporalFamily.registration,
        SpikingFamily.registration,
        SLDAFamily.registration,
        SparseFamily.registration,
        MLPFamily.registration,
    ]

    /// The family of `spec`.
    public static func family(for spec: ExperimentSpec) -> FamilyRegistration? {
        families.first { $0.accepts(spec) }
    }

    /// The training session `spec` asks for.
    public static func makeSession(spec: ExperimentSpec, datasets: DatasetLibrary) throws -> TrainingSession {
        guard let family = family(for: spec) else { throw SpecError("model.kind", "no network family trains \(spec.model.kind)") }
        return try family.makeSession(spec, datasets)
    }
}
