import Foundation
import Engine
import Storage

/// A model alias that keeps learning from feedback: the hidden layers of its current version
/// compute features, and a readout that a ``ReadoutLearner`` adapts answers from them.
///
/// Predictions never wait for learning: they read the published readout (an immutable
/// ``ReadoutWeights`` swapped in whole under a short lock) and compute features under the model's
/// own lock. Feedback is serialised on ``learning`` — the update, the canary check and the writing
/// of snapshot versions — beside predictions.
final class AdaptiveAlias: @unchecked Sendable {
    /// One answered input row: what the client gets, what feedback will need, and the version whose
    /// weights (plus the updates since) answered.
    struct Row {
        var probabilities: [Float]
        var features: [Float]
        var version: ModelVersionRecord
    }

    /// The canary set: features of held-out inputs (computed once: adaptation leaves the features
    /// unchanged) and their labels.
    struct Canary {
        var inputs: [[Float]]
        var features: [Float]
        var labels: [Int32]
    }

    let name: String
    let alias: String
    /// Which start of the alias's adaptation this is (``AdaptationRecord/generation``).
    let generation: String
    let policy: AdaptationPolicy
    let baseVersion: Int
    let batcher: MicroBatcher<Row>
    /// Held while learning, checking the canary and writing snapshots (one feedback at a time).
    let learning = NSLock()

    /// Its readout's current weights are read by predictions only through ``current``.
    let learner: ReadoutLearner
    // Guarded by `learning`:
    /// The weights of the alias's current version (what a freeze returns to).
    private(set) var lastSnapshot: ReadoutWeights
    private(set) var canary: Canary?
    private(set) var canaryAccuracy: Double?
    var frozenReason: String?
    var updatesAtSnapshot: Int
    /// A failed snapshot is tried again once the count reaches this.
    var nextSnapshotAt: Int
    var counters = Counters()
    var lastStep: ReadoutLearner.Step?

    // Guarded by `publication`: what predictions read.
    private let publication = NSLock()
    private var published: (weights: ReadoutWeights, version: ModelVersionRecord, model: InferenceModel)

    struct Counters {
        var feedback = 0
        var applied = 0
        var labelled = 0
        var correct = 0
        /// Whether each of the last ``recentWindow`` labelled feedbacks found the answer right.
        var recent: [Bool] = []
        var recentStart = 0
        static let recentWindow = 200

        mutating func noteCorrect(_ ok: Bool) {
            labelled += 1
            if ok { correct += 1 }
            if recent.count < Self.recentWindow { recent.append(ok) } else {
                recent[recentStart] = ok
                recentStart = (recentStart + 1) % Self.recentWindow
            }
        }
        var recentAccuracy: Double? { recent.isEmpty ? nil : Double(recent.filter { $0 }.count) / Double(recent.count) }
    }

    /// `model` is the loaded current version `version` of the alias; `anchor` the readout of the
    /// base version; `updates` the count stored with the current version.
    init(name: String, alias: String, generation: String, policy: AdaptationPolicy, baseVersion: Int, version: ModelVersionRecord, model: InferenceModel,
         anchor: ReadoutWeights, updates: Int, canary: (inputs: [[Float]], labels: [Int])?, frozenReason: String?,
         batching: BatchingConfiguration) {
        let start = model.readout!
        self.name = name
        self.alias = alias
        self.generation = generation
        self.policy = policy
        self.baseVersion = baseVersion
        batcher = MicroBatcher(configuration: batching)
        learner = ReadoutLearner(policy: policy, anchor: anchor, start: start, updates: updates)
        lastSnapshot = start
        updatesAtSnapshot = updates
        nextSnapshotAt = updates + policy.snapshotEvery
        self.frozenReason = frozenReason
        published = (start, version, model)
        if let canary {
            let c = Canary(inputs: canary.inputs, features: model.features(canary.inputs), labels: canary.labels.map(Int32.init))
            self.canary = c
            canaryAccuracy = start.accuracy(features: c.features, labels: c.labels)
        }
    }

    /// The readout, version and model predictions use now.
    var current: (weights: ReadoutWeights, version: ModelVersionRecord, model: InferenceModel) {
        publication.lock()
        defer { publication.unlock() }
        return published
    }

    private func publish(_ weights: ReadoutWeights, version: ModelVersionRecord? = nil, model: InferenceModel? = nil) {
        publication.lock()
        published = (weights, version ?? published.version, model ?? published.model)
        publication.unlock()
    }

    /// Answers validated `inputs` with the published readout (batched with concurrent requests).
    func predict(_ inputs: [[Float]]) throws -> MicroBatcher<Row>.Result {
        try batcher.predict(inputs) { rows in
            // One snapshot for the whole pass: each answer is the forward pass of one set of weights.
            let (weights, version, model) = current
            let h = model.features(rows)
            let p = h.withUnsafeBufferPointer { weights.probabilities($0.baseAddress!, rows: rows.count) }
            let f = weights.features, k = weights.classes
            return (0..<rows.count).map { r in
                Row(probabilities: Array(p[(r * k)..<((r + 1) * k)]), features: Array(h[(r * f)..<((r + 1) * f)]), version: version)
            }
        }
    }

    /// Learns from one feedback (the caller holds ``learning``) and publishes the new readout;
    /// nil when the learner refused it (see ``ReadoutLearner/learn(features:answered:outcome:)``).
    func learn(features: [Float], answered: Int, outcome: AdaptationOutcome) -> ReadoutLearner.Step? {
        guard let step = learner.learn(features: features, answered: answered, outcome: outcome) else { return nil }
        lastStep = step
        publish(learner.current)
        return step
    }

    /// Whether a snapshot is due (the caller holds ``learning``).
    var snapshotDue: Bool { learner.updates >= nextSnapshotAt }

    /// A snapshot could not be written: the next try comes after another `snapshot_every` updates.
    func snapshotFailed() { nextSnapshotAt = learner.updates + policy.snapshotEvery }

    /// The canary accuracy of the learner's current readout, remembered (nil without a canary).
    func checkCanary() -> Double? {
        guard let canary else { return nil }
        canaryAccuracy = learner.current.accuracy(features: canary.features, labels: canary.labels)
        return canaryAccuracy
    }

    /// The current readout became version `version` (the caller holds ``learning``).
    func snapshotRecorded(_ version: ModelVersionRecord) {
        restartCount(at: learner.current)
        publish(learner.current, version: version)
    }

    /// `weights` are now those of the alias's version: what a freeze returns to, and where the
    /// count toward the next snapshot starts.
    private func restartCount(at weights: ReadoutWeights) {
        lastSnapshot = weights
        updatesAtSnapshot = learner.updates
        nextSnapshotAt = learner.updates + policy.snapshotEvery
    }

    /// Returns to the last snapshot's weights and stops learning (the caller holds ``learning``).
    func freeze(_ reason: String) {
        frozenReason = reason
        learner.reset(to: lastSnapshot)
        publish(lastSnapshot)
    }

    private let catchUpLock = NSLock()
    private var catchingUp = false

    /// Claims the one catch-up with the registry this alias may have running; false when one runs.
    func beginCatchUp() -> Bool {
        catchUpLock.lock()
        defer { catchUpLock.unlock() }
        if catchingUp { return false }
        catchingUp = true
        return true
    }

    func endCatchUp() {
        catchUpLock.lock()
        catchingUp = false
        catchUpLock.unlock()
    }

    /// Whether `model`'s readout can continue this adaptation (same features and classes as the anchor).
    func accepts(_ model: InferenceModel) -> Bool {
        guard let r = model.readout else { return false }
        return r.features == learner.anchor.features && r.classes == learner.anchor.classes && model.inputWidth == current.model.inputWidth
    }

    /// Whether a readout can start an adaptation: bounded, because every update copies it and every
    /// remembered prediction keeps its features.
    static func canAdapt(_ r: ReadoutWeights) -> Bool { r.features <= maxFeatures && r.classes <= maxClasses }
    static let maxFeatures = 4096
    static let maxClasses = 1024

    /// The alias now points at `version` (moved by a client: a rollback); the learner restarts from
    /// its weights, still anchored to the base version (the caller holds ``learning``, and has
    /// checked ``accepts(_:)``).
    func moved(to version: ModelVersionRecord, model: InferenceModel) {
        let start = model.readout!
        learner.reset(to: start)
        if let c = canary {
            canary!.features = model.features(c.inputs)
            canaryAccuracy = start.accuracy(features: canary!.features, labels: c.labels)
        }
        restartCount(at: start)
        publish(start, version: version, model: model)
    }
}
