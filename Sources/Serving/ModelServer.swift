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
}

/// Serves registered models: resolves names, versions and aliases in the registry, loads their
/// checkpoints (through a memory-bounded cache of loaded models), and answers predictions through
/// each model's micro-batcher. The only place serving joins Engine and Storage.
public final class ModelServer: @unchecked Sendable {
    public struct Options: Sendable {
        /// Micro-batching of concurrent predictions.
        public var batching = PredictionBatcher.Configuration()
        /// Loaded models beyond this many parameter bytes are evicted, least recently used first.
        public var cacheBytes = 512 << 20
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

    public init(store: Store, files: CheckpointFiles, options: Options = Options()) {
        self.store = store
        self.files = files
        self.options = options
        cache = ModelCache(capacityBytes: options.cacheBytes, batching: options.batching)
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

    /// Predictions of version `v` for `inputs`, batched with concurrent requests for the same task.
    public func predict(_ v: ModelVersionRecord, inputs: [[Float]], task: Int?) throws -> (model: InferenceModel, result: PredictionBatcher.Result) {
        let served = try model(v)
        do {
            return (served.model, try served.predict(inputs, task: task))
        } catch let e as InferenceModel.Failure {
            throw ServingError.badInput(field: e.description.hasPrefix("task") ? "task" : "inputs", message: e.description)
        }
    }
}
