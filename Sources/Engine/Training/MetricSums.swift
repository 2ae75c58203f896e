/// Named running sums a family accumulates while training, over three spans: the current metric
/// window, the current epoch and the whole run. The training loop resets the window after each
/// window report and the epoch at each epoch's end, and saves all three by name in checkpoints,
/// so a resumed run reports exactly what an uninterrupted one would.
public struct MetricSums: Sendable, Equatable, Codable {
    /// The sums of one span; a key never added reads 0.
    public struct Span: Sendable, Equatable, Codable {
        public private(set) var values: [String: Double] = [:]
        public subscript(key: String) -> Double { values[key] ?? 0 }
        /// Mean of `key` per unit of `per` (0 when nothing was counted).
        public func ratio(_ key: String, per: String) -> Double { self[per] > 0 ? self[key] / self[per] : 0 }
        mutating func add(_ key: String, _ value: Double) { values[key, default: 0] += value }
        public init() {}
    }

    public var window = Span()
    public var epoch = Span()
    public var run = Span()

    public init() {}

    /// Adds `value` to `key` in every span.
    public mutating func add(_ key: String, _ value: Double) {
        window.add(key, value)
        epoch.add(key, value)
        run.add(key, value)
    }
}
