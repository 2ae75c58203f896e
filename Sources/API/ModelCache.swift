import Foundation
import Engine

/// A loaded model and the batcher that coalesces its concurrent requests.
final class ServedModel: Sendable {
    let model: InferenceModel
    let batcher: PredictionBatcher

    init(model: InferenceModel, batching: PredictionBatcher.Configuration) {
        self.model = model
        batcher = PredictionBatcher(configuration: batching)
    }

    /// Validates `inputs` (so one bad request never fails the others of its batch), then runs them,
    /// batched with whatever other requests overlap.
    func predict(_ inputs: [[Float]]) throws -> PredictionBatcher.Result {
        try model.validate(inputs)
        return try batcher.predict(inputs) { try model.predict($0) }
    }
}

/// Loaded models by checkpoint id, least recently used evicted beyond `capacityBytes`.
final class ModelCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: (model: ServedModel, used: UInt64)] = [:]
    private var clock: UInt64 = 0
    let capacityBytes: Int
    let batching: PredictionBatcher.Configuration

    init(capacityBytes: Int = 512 << 20, batching: PredictionBatcher.Configuration = .init()) {
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
