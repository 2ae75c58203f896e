import Foundation

/// The lifecycle state of a run.
public enum RunState: String, Sendable, CaseIterable, Codable {
    case queued, running, succeeded, failed, canceled

    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .canceled }
}

public struct ExperimentRecord: Sendable, Equatable {
    public var seq: Int
    public var id: String
    public var name: String
    public var description: String
    public var createdAt: Double
}

public struct RunRecord: Sendable, Equatable {
    public var seq: Int
    public var id: String
    public var experimentID: String
    public var state: RunState
    /// The normalised spec as JSON text.
    public var spec: String
    public var specHash: String
    public var attempt: Int
    public var progressCompleted: Int
    public var progressTotal: Int
    public var progressUnit: String
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    public var updatedAt: Double
    public var failureReason: String?
    public var cancelRequested: Bool
    public var leaseOwner: String?
    public var leaseExpiresAt: Double?
    /// The results summary as JSON, once the trainer has produced one.
    public var summary: String?
    /// Infrastructure interruptions so far (crashes, I/O errors; not graceful shutdowns).
    public var failures: Int = 0
    /// A requeued run waits for its retry backoff: not leased before this time.
    public var notBefore: Double?
    /// The study this run belongs to, its cell and its seed (nil for single runs).
    public var studyID: String?
    public var studyCell: Int?
    public var studySeed: Int?
    /// A yoked control starts once this run (whose effect trace it replays) has succeeded.
    public var afterRun: String?
}

public struct MetricPoint: Sendable, Equatable {
    public var key: String
    public var step: Int
    public var value: Double
    public var time: Double
    public init(key: String, step: Int, value: Double, time: Double) {
        self.key = key
        self.step = step
        self.value = value
        self.time = time
    }
}

/// What is known of one metric key of a run.
public struct MetricKeySummary: Sendable, Equatable {
    public var key: String
    public var count: Int
    public var lastStep: Int
    public var lastValue: Double
}

public struct CheckpointRecord: Sendable, Equatable {
    public var seq: Int
    public var id: String
    public var runID: String
    public var step: Int
    /// File name relative to the data folder's checkpoint directory; never from a request.
    public var file: String
    public var size: Int
    public var sha256: String
    public var createdAt: Double
    /// The run's selection metric at this step (higher is better) and its name, when known.
    public var score: Double?
    public var scoreMetric: String?

    public init(seq: Int = 0, id: String, runID: String, step: Int, file: String, size: Int, sha256: String, createdAt: Double,
                score: Double? = nil, scoreMetric: String? = nil) {
        self.score = score
        self.scoreMetric = scoreMetric
        self.seq = seq
        self.id = id
        self.runID = runID
        self.step = step
        self.file = file
        self.size = size
        self.sha256 = sha256
        self.createdAt = createdAt
    }
}

/// A page of results and the cursor for the next one.
public struct Page<T: Sendable>: Sendable {
    public var items: [T]
    /// The `seq` after which the next page starts, or nil on the last page.
    public var nextAfter: Int?
}

/// Outcomes the store reports that are not database failures.
public enum StoreError: Error, Equatable, Sendable {
    case notFound(String)
    /// The idempotency key was used before with a different request.
    case idempotencyMismatch
    /// The operation does not apply to a run in this state.
    case invalidState(RunState)
    /// The operation conflicts with stored state (e.g. deleting an aliased model version).
    case conflict(String)
    /// A worker's write under a lease it no longer holds (expired and taken over, or the run
    /// ended): refused, so a paused or partitioned worker can write nothing more.
    case fenced(String)
}

/// What every write of a worker carries: the run, the worker holding it, and the attempt it
/// leased (the fencing token).
public struct Lease: Sendable, Equatable {
    public let runID: String
    public let owner: String
    public let attempt: Int
    public init(runID: String, owner: String, attempt: Int) {
        self.runID = runID
        self.owner = owner
        self.attempt = attempt
    }
}

/// Random identifiers like `run_3f9a…` (128 bits).
public enum Identifier {
    public static func make(_ prefix: String) -> String {
        var g = SystemRandomNumberGenerator()
        let hex = (0..<2).map { _ in String(g.next() as UInt64, radix: 16).leftPadded(16) }.joined()
        return "\(prefix)_\(hex)"
    }
}

extension String {
    func leftPadded(_ n: Int) -> String {
        count >= n ? self : String(repeating: "0", count: n - count) + self
    }
}

/// A study: a design expanded into cells, each run once per seed (ordinary runs with its id).
public struct StudyRecord: Sendable, Equatable {
    public var seq: Int
    public var id: String
    public var experimentID: String
    public var name: String
    /// The design as submitted (normalised JSON), the expanded cells (JSON array) and the metric paths (JSON array).
    public var design: String
    public var cells: String
    public var metrics: String
    public var controlCell: Int
    public var cancelRequested: Bool
    public var createdAt: Double
}

/// One run to create with a study.
public struct StudyRunPlan: Sendable, Equatable {
    public var cell: Int
    public var seed: Int
    public var spec: String
    public var specHash: String
    public var progressTotal: Int
    public var progressUnit: String
    /// Index (into the plan) of the run this one waits for (yoked controls).
    public var after: Int?
    public init(cell: Int, seed: Int, spec: String, specHash: String, progressTotal: Int, progressUnit: String, after: Int? = nil) {
        self.cell = cell
        self.seed = seed
        self.spec = spec
        self.specHash = specHash
        self.progressTotal = progressTotal
        self.progressUnit = progressUnit
        self.after = after
    }
}

/// An uploaded data set: its file's digest and size, and the validated description (JSON).
public struct DatasetRecord: Sendable, Equatable {
    public var seq: Int
    public var id: String
    public var name: String
    /// `npz`, `safetensors` or `idx`.
    public var format: String
    public var sha256: String
    public var bytes: Int
    /// The validated summary as JSON: sample shape, features, classes, counts.
    public var description: String
    public var createdAt: Double
}
