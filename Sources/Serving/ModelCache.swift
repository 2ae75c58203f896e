import Foundation
import Engine

/// A loaded model and the batchers that coalesce its concurrent requests (one per task: requests
/// for different tasks of a context-gated model cannot share a forward pass).
public final class ServedModel: @unchecked Sendable {
    public let model: InferenceModel
    public let batching: BatchingConfiguration
    private let lock = NSLock()
    private var batchers: [Int: PredictionBatcher] = [:]

    init(model: InferenceModel, batching: BatchingConfiguration) {
        self.model = model
        self.batching = batching
    }

    private func batcher(task: Int?) -> PredictionBatcher {
        lock.lock()
        defer { lock.unlock() }
        if let b = batchers[task ?? -1] { return b }
        let b = PredictionBatcher(configuration: batching)
        batchers[task ?? -1] = b
        return b
    }

    /// Totals over all tasks since the model was loaded.
    public var statistics: BatchingStatistics {
        lock.lock()
        let all = Array(batchers.values)
        lock.unlock()
        return all.reduce(into: BatchingStatistics()) {
            let s = $1.statistics
            $0.requests += s.requests; $0.forwardPasses += s.forwardPasses; $0.rows += s.rows
        }
    }

    /// Validates `inputs` (so one bad request never fails the others of its batch), then runs them,
    /// batched with whatever other requests for the same task overlap.
    public func predict(_ inputs: [[Float]], task: Int? = nil) throws -> PredictionBatcher.Result {
        try model.validate(inputs, task: task)
        return try batcher(task: task).predict(inputs) { try model.predict($0, task: task) }
    }
}

/// Loaded models by checkpoint id, least recently used evicted beyond `capacityBytes`.
final class ModelCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: (model: ServedModel, used: UInt64)] = [:]
    private var clock: UInt64 = 0
    let capacityBytes: Int
    let batching: BatchingConfiguration

    init(capacityBytes: Int = 512 << 20, batching: BatchingConfiguration = .init()) {
        self.capacityBytes = capacityBytes
        self.batching = batching
    }

    func model(checkpointID: String, load: () throws -> InferenceModel) throws -> ServedModel {
        lock.lock()
        clock += 1
        if let hit = entries[checkpointID] {
            entries[checkpointID] = (hit.model, clock)
            lock.unlock()
            return hit.model
        }
        lock.unlock()
        let loaded = ServedModel(model: try load(), batching: batching)
        lock.lock()
        defer { lock.unlock() }
        entries[checkpointID] = (loaded, clock)
        while entries.values.reduce(0, { $0 + $1.model.model.parameterBytes }) > capacityBytes && entries.count > 1,
              let oldest = entries.min(by: { $0.value.used < $1.value.used })?.key {
            entries[oldest] = nil
        }
        return loaded
    }
}
