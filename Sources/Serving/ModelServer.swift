import Foundation
import Engine
import ObjectStore
import Storage

/// Errors of serving, mapped to HTTP statuses at the API's edge.
public enum ServingError: Error, Sendable, Equatable {
    /// 404: a model, version, alias or checkpoint that does not exist.
    case notFound(String)
    /// 410: the registered checkpoint (its row or its file) is gone.
    case gone(String)
    /// 409: a run with no checkpoint yet.
    case noCheckpoint(String)
    /// 422: a checkpoint this build cannot serve.
    case unsupported(String)
    /// 400: a request's inputs or task (`field` names which).
    case badInput(field: String, message: String)
    /// 409: a request that conflicts with the current state (feedback given twice, adaptation of
    /// a model that cannot adapt).
    case conflict(String)
    /// 429: too many feedbacks for one model; retry after this many seconds.
    case rateLimited(retryAfter: Double)
}

/// Serves registered models: resolves names, versions and aliases in the registry, loads their
/// checkpoints (through a memory-bounded cache of loaded models), and answers predictions through
/// each model's micro-batcher. The only place serving joins Engine and Storage.
public final class ModelServer: @unchecked Sendable {
    public struct Options: Sendable {
        /// Micro-batching of concurrent predictions.
        public var batching = BatchingConfiguration()
        /// Loaded models beyond this many parameter bytes are evicted, least recently used first.
        public var cacheBytes = 512 << 20
        /// Recent predictions remembered for feedback, and for how long (seconds).
        public var predictionMemory = 16_384
        public var predictionTTL: TimeInterval = 900
        /// Feedbacks accepted per model per second (bursts of as many); more get a 429.
        public var feedbackPerSecond = 500.0
        /// Adapted snapshots are not written when data sets and checkpoints would pass this many
        /// bytes (adaptation freezes instead); nil: no quota.
        public var diskQuotaBytes: Int?
        /// Adapted versions kept per model (older ones no alias points at are deleted).
        public var keepAdaptedVersions = 100
        public init() {}
    }

    let store: Store
    let files: CheckpointFiles
    private let resolutionLock = NSLock()
    /// What a request names: a version, an alias, or neither (the latest).
    private struct Resolution: Hashable {
        let name: String
        let version: Int?
        let alias: String?
    }
    private var resolutions: [Resolution: (record: ModelVersionRecord, expires: UInt64)] = [:]
    let cache: ModelCache
    public let options: Options
    /// Recent predictions, for feedback.
    public let ledger: PredictionLedger
    /// Aliases that adapt, by "name/alias"; guarded by `adaptiveLock`.
    var adaptive: [String: AdaptiveAlias] = [:]
    let adaptiveLock = NSLock()
    /// Feedback rate limits, by model name; guarded by `adaptiveLock`.
    var feedbackBuckets: [String: TokenBucket] = [:]
    /// Adaptations to load from the store when next asked about (those stored when the server
    /// started, and any whose load failed or went stale); guarded by `adaptiveLock`.
    var unrestored: Set<String> = []

    /// Every alias that had an adaptation gets it back when it is first used (its models load
    /// then, not at start-up).
    public init(store: Store, files: CheckpointFiles, options: Options = Options()) {
        self.store = store
        self.files = files
        self.options = options
        cache = ModelCache(capacityBytes: options.cacheBytes, batching: options.batching)
        ledger = PredictionLedger(capacity: options.predictionMemory, ttl: options.predictionTTL)
        unrestored = Set(((try? store.adaptations()) ?? []).map { Self.key($0.name, $0.alias) })
    }

    /// The loaded model of a registered version.
    public func model(_ v: ModelVersionRecord) throws -> ServedModel {
        try cache.model(checkpointID: v.checkpointID) {
            guard let record = try store.checkpoint(runID: v.runID, id: v.checkpointID) else {
                throw ServingError.gone("the checkpoint of version \(v.version) no longer exists")
            }
            let data: Data
            do { data = try files.read(relative: record.file) } catch BlobStoreError.notFound {
                throw ServingError.gone("the checkpoint file of version \(v.version) is no longer in the store")
            }   // anything else (the object store does not answer: a 503) passes on as it is
            do { return try InferenceModel(checkpoint: data) } catch let e as InferenceModel.Failure {
                throw ServingError.unsupported(e.description)
            } catch {
                throw ServingError.unsupported("the checkpoint cannot be served: \(error)")
            }
        }
    }

    /// The version a request names (a number, an alias, or the latest), remembered for up to a
    /// second so that predictions do not read the registry each time. Changes made through this
    /// node apply at once (``forgetResolutions(of:)``); another node's alias move within a second.
    public func resolve(name: String, version: Int? = nil, alias: String? = nil) throws -> ModelVersionRecord {
        let key = Resolution(name: name, version: version, alias: alias)
        let now = DispatchTime.now().uptimeNanoseconds
        resolutionLock.lock()
        if let hit = resolutions[key], hit.expires > now {
            resolutionLock.unlock()
            return hit.record
        }
        resolutionLock.unlock()
        let record = try store.resolveModelVersion(name: name, version: version, alias: alias)
        resolutionLock.lock()
        if resolutions.count > 10_000 { resolutions.removeAll() }
        resolutions[key] = (record, now + 1_000_000_000)
        resolutionLock.unlock()
        return record
    }

    /// Drops the remembered resolutions of a model (its aliases or versions changed).
    public func forgetResolutions(of name: String) {
        resolutionLock.lock()
        resolutions = resolutions.filter { $0.key.name != name }
        resolutionLock.unlock()
    }

    /// Registers a new version of `name` from a run's checkpoint: the one given, else the run's best
    /// by its selection metric, else its latest. Refuses (before registering) what cannot be served.
    public func register(name: String, runID: String, checkpointID: String?) throws -> ModelVersionRecord {
        guard try store.run(id: runID) != nil else { throw ServingError.notFound("run \(runID)") }
        let chosen: String
        if let checkpointID {
            chosen = checkpointID
        } else {
            guard let best = try store.bestCheckpoint(runID: runID) ?? store.latestCheckpoint(runID: runID) else {
                throw ServingError.noCheckpoint("run \(runID) has no checkpoint yet")
            }
            chosen = best.id
        }
        guard try store.checkpoint(runID: runID, id: chosen) != nil else { throw ServingError.notFound("checkpoint \(chosen) of run \(runID)") }
        _ = try model(ModelVersionRecord(name: name, version: 0, runID: runID, checkpointID: chosen, createdAt: 0))
        let registered = try store.registerModelVersion(name: name, runID: runID, checkpointID: chosen)
        forgetResolutions(of: name)
        return registered
    }

    /// What a prediction request gets: the model that answered, one row of outputs and one
    /// `prediction_id` per input, the version, and the rows of the forward pass.
    public struct Prediction {
        public var model: InferenceModel
        public var outputs: [[Float]]
        public var predictionIDs: [String]
        public var version: Int
        public var batchRows: Int
    }

    /// Predictions of version `v` for `inputs`, batched with concurrent requests for the same task;
    /// an alias that adapts (`alias`, with no task) answers with its adapted readout.
    public func predict(_ v: ModelVersionRecord, alias: String? = nil, inputs: [[Float]], task: Int?) throws -> Prediction {
        if let alias, task == nil, let a = adaptiveAlias(name: v.name, alias: alias) {
            let current = a.current
            if current.version.version == v.version {
                let model = current.model
                do { try model.validate(inputs) } catch let e as InferenceModel.Failure {
                    throw ServingError.badInput(field: "inputs", message: e.description)
                }
                let result = try a.predict(inputs)
                let outputs = result.outputs.map(\.probabilities)
                let ids = ledger.record(result.outputs.map {
                    PredictionLedger.Entry(model: v.name, alias: alias, generation: a.generation, version: $0.version.version,
                                           answered: Self.argmax($0.probabilities), classes: $0.probabilities.count, features: $0.features)
                })
                return Prediction(model: model, outputs: outputs, predictionIDs: ids, version: result.outputs[0].version.version,
                                  batchRows: result.batchRows)
            }
            // The registry says otherwise (another node moved the alias, or a snapshot was just
            // recorded): this request is answered by the version the registry names, and the
            // adapting alias catches up beside it.
            if a.beginCatchUp() {
                DispatchQueue.global().async { [weak self] in
                    self?.aliasChanged(name: v.name, alias: alias)
                    a.endCatchUp()
                }
            }
        }
        let served = try model(v)
        let result: PredictionBatcher.Result
        do { result = try served.predict(inputs, task: task) } catch let e as InferenceModel.Failure {
            throw ServingError.badInput(field: e.description.hasPrefix("task") ? "task" : "inputs", message: e.description)
        }
        let ids = ledger.record(result.outputs.map {
            PredictionLedger.Entry(model: v.name, alias: nil, generation: nil, version: v.version, answered: Self.argmax($0),
                                   classes: $0.count, features: nil)
        })
        return Prediction(model: served.model, outputs: result.outputs, predictionIDs: ids, version: v.version, batchRows: result.batchRows)
    }

    /// The class a row of probabilities answers (the first of equals).
    public static func argmax(_ p: [Float]) -> Int {
        var best = 0
        for c in p.indices where p[c] > p[best] { best = c }
        return best
    }
}
