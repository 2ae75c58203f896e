import Foundation

/// Counters, histograms and gauges for `GET /metrics`, written in the Prometheus text exposition
/// format (version 0.0.4). Knows nothing of HTTP or SQL: the layers that measure record into it,
/// and gauges are read from their owners when the page is rendered.
///
/// Label sets are small and fixed by the callers (a route template, never a raw path), so the
/// number of series stays bounded. Thread-safe; recording is a lock and a dictionary update.
public final class MetricsRegistry: @unchecked Sendable {
    public typealias Labels = [String: String]

    enum Kind: String { case counter, gauge, histogram }

    struct Histogram {
        var counts: [Double]
        var sum = 0.0
        var count = 0.0

        mutating func record(_ value: Double, bucket: Int) {
            counts[bucket] += 1
            sum += value
            count += 1
        }
    }

    struct Family {
        let kind: Kind
        let help: String
        var values: [Labels: Double] = [:]
        var buckets: [Double] = []
        var histograms: [Labels: Histogram] = [:]
        var collect: (@Sendable () -> [(Labels, Double)])?

        mutating func add(_ amount: Double, _ labels: Labels) {
            guard kind == .counter else { return }
            values[labels, default: 0] += amount
        }

        mutating func observe(_ value: Double, _ labels: Labels) {
            guard kind == .histogram else { return }
            // The first bucket the value fits; the cumulative counts are formed when rendering.
            var lo = 0, hi = buckets.count
            while lo < hi { let mid = (lo + hi) / 2; if value <= buckets[mid] { hi = mid } else { lo = mid + 1 } }
            histograms[labels, default: Histogram(counts: [Double](repeating: 0, count: buckets.count + 1))].record(value, bucket: lo)
        }
    }

    private let lock = NSLock()
    private var families: [String: Family] = [:]
    private var order: [String] = []

    public init() {}

    /// Seconds-scale buckets for request and write latencies (0.1 ms to 10 s).
    public static let latencyBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]

    private func declare(_ name: String, _ family: Family) {
        lock.lock(); defer { lock.unlock() }
        precondition(Self.isValidName(name), "metric name \(name)")
        if families[name] == nil { order.append(name) }
        families[name] = family
    }

    /// Declares a counter (a `_total` name by convention).
    public func counter(_ name: String, help: String) { declare(name, Family(kind: .counter, help: help)) }

    /// Declares a counter kept by its owner and read when the page is rendered.
    public func counter(_ name: String, help: String, collect: @escaping @Sendable () -> [(Labels, Double)]) {
        var f = Family(kind: .counter, help: help)
        f.collect = collect
        declare(name, f)
    }

    /// Declares a histogram with upper bounds `buckets` (ascending; +Inf is implied).
    public func histogram(_ name: String, help: String, buckets: [Double] = latencyBuckets) {
        var f = Family(kind: .histogram, help: help)
        f.buckets = buckets.sorted()
        declare(name, f)
    }

    /// Declares a gauge whose values `collect` returns when the page is rendered.
    public func gauge(_ name: String, help: String, collect: @escaping @Sendable () -> [(Labels, Double)]) {
        var f = Family(kind: .gauge, help: help)
        f.collect = collect
        declare(name, f)
    }

    /// Adds `amount` (≥ 0) to a counter's series for `labels`.
    public func increment(_ name: String, _ labels: Labels = [:], by amount: Double = 1) {
        guard amount >= 0 else { return }
        lock.lock(); defer { lock.unlock() }
        families[name]?.add(amount, labels)   // one look-up, changed in place
    }

    /// Records one observation in a histogram's series for `labels`.
    public func observe(_ name: String, _ labels: Labels = [:], _ value: Double) {
        guard value.isFinite else { return }
        lock.lock(); defer { lock.unlock() }
        families[name]?.observe(value, labels)
    }

    /// The current value of a counter's series (tests, and callers that report it elsewhere).
    public func value(_ name: String, _ labels: Labels = [:]) -> Double {
        lock.lock(); defer { lock.unlock() }
        return families[name]?.values[labels] ?? 0
    }

    /// The exposition page.
    public func render() -> String {
        lock.lock()
        let snapshot = order.compactMap { name in families[name].map { (name, $0) } }
        lock.unlock()
        var out = ""
        for (name, f) in snapshot {
            out += "# HELP \(name) \(Self.escapeHelp(f.help))\n# TYPE \(name) \(f.kind.rawValue)\n"
            switch f.kind {
            case .counter:
                for (labels, v) in f.values.sorted(by: { Self.key($0.key) < Self.key($1.key) }) { out += "\(name)\(Self.labelText(labels)) \(Self.number(v))\n" }
                for (labels, v) in f.collect?() ?? [] { out += "\(name)\(Self.labelText(labels)) \(Self.number(v))\n" }
            case .gauge:
                for (labels, v) in f.collect?() ?? [] { out += "\(name)\(Self.labelText(labels)) \(Self.number(v))\n" }
            case .histogram:
                for (labels, h) in f.histograms.sorted(by: { Self.key($0.key) < Self.key($1.key) }) {
                    var cumulative = 0.0
                    for (i, bound) in f.buckets.enumerated() {
                        cumulative += h.counts[i]
                        out += "\(name)_bucket\(Self.labelText(labels, le: Self.number(bound))) \(Self.number(cumulative))\n"
                    }
                    out += "\(name)_bucket\(Self.labelText(labels, le: "+Inf")) \(Self.number(h.count))\n"
                    out += "\(name)_sum\(Self.labelText(labels)) \(Self.number(h.sum))\n"
                    out += "\(name)_count\(Self.labelText(labels)) \(Self.number(h.count))\n"
                }
            }
        }
        return out
    }

    // MARK: - Format

    static func isValidName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || first == ":" || CharacterSet.letters.contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0 == ":" || CharacterSet.alphanumerics.contains($0)) }
    }

    static func key(_ labels: Labels) -> String { labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{1}") }

    static func labelText(_ labels: Labels, le: String? = nil) -> String {
        var pairs = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(escapeLabel($0.value))\"" }
        if let le { pairs.append("le=\"\(le)\"") }
        return pairs.isEmpty ? "" : "{" + pairs.joined(separator: ",") + "}"
    }

    /// Label values escape backslash, double quote and newline.
    static func escapeLabel(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Help text escapes backslash and newline.
    static func escapeHelp(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}
