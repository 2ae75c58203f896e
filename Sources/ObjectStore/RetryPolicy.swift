import Foundation

/// How an ``S3Client`` retries a request that failed for a reason that may pass: a transport
/// failure (refused or reset connection, timeout), HTTP 500/502/503/504, or 429 / `SlowDown`.
/// Other 4xx answers are never retried. Every attempt is signed anew (the date changes).
///
/// Delays grow exponentially from `baseDelay`, capped at `maxDelay`, with "equal jitter": the
/// n-th retry waits a random time between half and all of `min(maxDelay, baseDelay · 2ⁿ⁻¹)`, so
/// that many clients that failed together do not come back together. No retry starts (and no
/// wait is begun) that would end past `deadline` seconds after the first attempt began.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first one included (1: no retries).
    public var attempts: Int
    /// The first retry's delay before jitter, in seconds.
    public var baseDelay: TimeInterval
    /// The longest delay before jitter, in seconds.
    public var maxDelay: TimeInterval
    /// The total time budget, in seconds, measured from the start of the first attempt.
    public var deadline: TimeInterval

    public init(attempts: Int = 6, baseDelay: TimeInterval = 0.2, maxDelay: TimeInterval = 5, deadline: TimeInterval = 120) {
        self.attempts = max(1, attempts)
        self.baseDelay = max(0, baseDelay)
        self.maxDelay = max(0, maxDelay)
        self.deadline = max(0, deadline)
    }

    /// 6 attempts, 0.2 s base delay, 5 s cap, 120 s deadline.
    public static let `default` = RetryPolicy()

    /// One attempt, no retries.
    public static let never = RetryPolicy(attempts: 1)

    /// The delay before retry number `retry` (1 for the first retry), before jitter.
    public func backoff(retry: Int) -> TimeInterval {
        let exponent = Double(min(max(retry - 1, 0), 62))
        return min(maxDelay, baseDelay * pow(2, exponent))
    }

    /// The jittered delay before retry number `retry`: uniformly in [backoff / 2, backoff].
    public func delay(retry: Int) -> TimeInterval {
        let full = backoff(retry: retry)
        return full <= 0 ? 0 : Double.random(in: (full / 2)...full)
    }

    /// Whether an HTTP answer is worth another attempt: 500, 502, 503, 504, 429, or an S3
    /// `SlowDown` error code whatever the status.
    public static func isTransient(status: Int, code: String? = nil) -> Bool {
        [429, 500, 502, 503, 504].contains(status) || code == "SlowDown"
    }
}

/// Counts of requests an ``S3Client`` sent and retried (for metrics), safe across threads.
final class RequestCounters: @unchecked Sendable {
    private let lock = NSLock()
    private var requests = 0
    private var retries = 0

    func addRequest() { lock.lock(); requests += 1; lock.unlock() }
    func addRetry() { lock.lock(); retries += 1; lock.unlock() }
    var requestCount: Int { lock.lock(); defer { lock.unlock() }; return requests }
    var retryCount: Int { lock.lock(); defer { lock.unlock() }; return retries }
}
