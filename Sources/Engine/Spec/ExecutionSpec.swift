import Foundation
import Support

/// How the service runs a spec (the `execution` section): retries after infrastructure failures,
/// a wall-clock budget, and checkpoint retention. None of it changes what is learned.
public struct ExecutionSpec: Sendable, Equatable, Codable {
    /// Attempts in all before a run interrupted by infrastructure (a crash, an I/O error, a missing
    /// dataset) fails for good. Failures of the spec itself are never retried.
    public var maxAttempts: Int
    /// Retry k waits min(retry_backoff_s · 2^(k−1), max_backoff_s) before it may start.
    public var retryBackoffSeconds: Double
    public var maxBackoffSeconds: Double
    /// Training time budget over all attempts; exceeded → the run fails (not retried). nil: none.
    public var maxRuntimeSeconds: Double?
    /// Checkpoint retention: keep the newest `keep_last` and the `keep_best` best-scoring ones
    /// (checkpoints that serve a registered model version are always kept). nil: keep all.
    public var keepLast: Int?
    public var keepBest: Int?

    enum CodingKeys: String, CodingKey {
        case maxAttempts = "max_attempts", retryBackoffSeconds = "retry_backoff_s", maxBackoffSeconds = "max_backoff_s"
        case maxRuntimeSeconds = "max_runtime_s", keepLast = "keep_last", keepBest = "keep_best"
    }

    public static let standard = ExecutionSpec(maxAttempts: 3, retryBackoffSeconds: 2, maxBackoffSeconds: 300,
                                               maxRuntimeSeconds: nil, keepLast: nil, keepBest: nil)

    /// The wait before retry number `retry` (1 = the first retry).
    public func backoff(retry: Int) -> Double {
        min(retryBackoffSeconds * pow(2, Double(max(retry, 1) - 1)), maxBackoffSeconds)
    }

    static func parse(_ value: JSONValue?) throws(SpecError) -> ExecutionSpec {
        guard let value else { return .standard }
        var r = try FieldReader(value, path: "execution")
        var e = ExecutionSpec.standard
        e.maxAttempts = try r.int("max_attempts", default: 3, in: 1...100)
        e.retryBackoffSeconds = try r.double("retry_backoff_s", default: 2, in: 0...3600)
        e.maxBackoffSeconds = try r.double("max_backoff_s", default: 300, in: 0...86_400)
        if r.raw("max_runtime_s") != nil { e.maxRuntimeSeconds = try r.double("max_runtime_s", in: 1...2_592_000) }
        if r.raw("keep_last") != nil { e.keepLast = try r.int("keep_last", in: 1...1_000_000) }
        if r.raw("keep_best") != nil { e.keepBest = try r.int("keep_best", in: 0...1_000_000) }
        if e.keepBest != nil && e.keepLast == nil {
            throw SpecError("execution.keep_best", "retention needs keep_last too (how many of the newest checkpoints to keep)")
        }
        try r.rejectUnknown()
        return e
    }
}
