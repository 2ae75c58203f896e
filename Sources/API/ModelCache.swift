import Foundation
import Engine

/// Loaded models by checkpoint id, least recently used evicted beyond `capacityBytes`.
final class ModelCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: (model: InferenceModel, used: UInt64)] = [:]
    private var clock: UInt64 = 0
    let capacityBytes: Int

    init(capacityBytes: Int = 512 << 20) {
        self.capacityBytes = capacityBytes
    }

    func model(checkpointID: String, load: () throws -> InferenceModel) throws -> InferenceModel {
        lock.lock()
        clock += 1
        if let hit = entries[checkpointID] {
            entries[checkpointID] = (hit.model, clock)
            lock.unlock()
            return hit.model
        }
        lock.unlock()
        let loaded = try load()
        lock.lock()
        defer { lock.unlock() }
        entries[checkpointID] = (loaded, clock)
        while entries.values.reduce(0, { $0 + $1.model.parameterBytes }) > capacityBytes && entries.count > 1,
              let oldest = entries.min(by: { $0.value.used < $1.value.used })?.key {
            entries[oldest] = nil
        }
        return loaded
    }
}
