import Foundation

/// The recent predictions of this server, by `prediction_id`, so that feedback can find what the
/// model saw and said: a fixed ring of slots (memory is bounded: `capacity` entries, each with
/// the readout features of an adaptive alias's prediction), each kept for `ttl` seconds. Ids name
/// their slot and carry a per-process nonce, so an id from another server or an earlier process
/// is unknown, never mistaken for another prediction.
public final class PredictionLedger: @unchecked Sendable {
    /// What feedback needs of one prediction.
    public struct Entry: Sendable {
        public var model: String
        /// The adaptive alias that answered, or nil (no adaptation: feedback is only counted).
        public var alias: String?
        /// Which start of that alias's adaptation answered.
        public var generation: String?
        public var version: Int
        /// The class answered, of how many.
        public var answered: Int
        public var classes: Int
        /// The readout's inputs (adaptive aliases only).
        public var features: [Float]?
        public init(model: String, alias: String?, generation: String?, version: Int, answered: Int, classes: Int, features: [Float]?) {
            self.model = model
            self.alias = alias
            self.generation = generation
            self.version = version
            self.answered = answered
            self.classes = classes
            self.features = features
        }
    }

    /// What a feedback's id names.
    public enum Lookup {
        case found(Entry)
        /// Unknown, expired, overwritten, or of another model.
        case unknown
        /// Feedback for it was already given.
        case alreadyGiven
    }

    private struct Slot {
        var sequence: UInt64
        var entry: Entry
        var expires: UInt64
        var given: Bool
    }

    public let capacity: Int
    public let ttl: TimeInterval
    private let nonce: String
    private let lock = NSLock()
    private var slots: [Slot?]
    private var next: UInt64 = 1

    public init(capacity: Int = 16_384, ttl: TimeInterval = 900) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.ttl = ttl
        slots = Array(repeating: nil, count: capacity)
        nonce = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }

    /// Remembers predictions; returns their ids, in order.
    public func record(_ entries: [Entry]) -> [String] {
        let expires = DispatchTime.now().uptimeNanoseconds + UInt64(ttl * 1e9)
        lock.lock()
        defer { lock.unlock() }
        var ids: [String] = []
        ids.reserveCapacity(entries.count)
        for e in entries {
            let s = next
            next += 1
            slots[Int(s % UInt64(capacity))] = Slot(sequence: s, entry: e, expires: expires, given: false)
            ids.append("pr_\(nonce)_\(s)")
        }
        return ids
    }

    /// Whether `id` names a remembered prediction of `model` (feedback given or not).
    public func contains(_ id: String, model: String) -> Bool {
        guard let (i, s) = slot(of: id) else { return false }
        let now = DispatchTime.now().uptimeNanoseconds
        lock.lock()
        defer { lock.unlock() }
        guard let slot = slots[i] else { return false }
        return slot.sequence == s && slot.expires > now && slot.entry.model == model
    }

    private func slot(of id: String) -> (Int, UInt64)? {
        let parts = id.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "pr", parts[1] == nonce, let s = UInt64(parts[2]) else { return nil }
        return (Int(s % UInt64(capacity)), s)
    }

    /// Finds the prediction `id` of `model` and marks its feedback given (each prediction takes
    /// feedback once).
    public func claim(_ id: String, model: String) -> Lookup {
        guard let (i, s) = slot(of: id) else { return .unknown }
        let now = DispatchTime.now().uptimeNanoseconds
        lock.lock()
        defer { lock.unlock() }
        guard let slot = slots[i], slot.sequence == s, slot.expires > now, slot.entry.model == model else { return .unknown }
        if slot.given { return .alreadyGiven }
        slots[i]!.given = true
        return .found(slot.entry)
    }

    /// Makes a claimed prediction take feedback again (its feedback could not be applied).
    public func unclaim(_ id: String) {
        guard let (i, s) = slot(of: id) else { return }
        lock.lock()
        defer { lock.unlock() }
        if slots[i]?.sequence == s { slots[i]!.given = false }
    }
}

/// A token bucket: `rate` events a second on average, bursts of up to `burst`.
final class TokenBucket {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var last: UInt64

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
        tokens = burst
        last = DispatchTime.now().uptimeNanoseconds
    }

    /// Takes a token, or returns the seconds until one is available.
    func take() -> Double? {
        let now = DispatchTime.now().uptimeNanoseconds
        tokens = min(burst, tokens + Double(now - last) / 1e9 * rate)
        last = now
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        return (1 - tokens) / rate
    }
}
