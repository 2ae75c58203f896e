import Foundation

/// How a ``MicroBatcher`` forms batches.
public struct BatchingConfiguration: Sendable, Equatable {
    /// Most input rows in one forward pass (1 turns batching off). A larger single request
    /// still runs, alone.
    public var maxRows = 64
    /// How long a leader waits for more requests before it runs a partial batch.
    public var maxDelay: TimeInterval = 0
    public init(maxRows: Int = 64, maxDelay: TimeInterval = 0) {
        self.maxRows = maxRows
        self.maxDelay = maxDelay
    }
}

/// A batcher's totals since its model was loaded.
public struct BatchingStatistics: Sendable, Equatable {
    public var requests = 0
    public var forwardPasses = 0
    public var rows = 0
    public init() {}
}

/// The batcher of plain predictions: a row of output values per input row.
public typealias PredictionBatcher = MicroBatcher<[Float]>

/// Coalesces concurrent prediction requests for one model into batched forward passes
/// (micro-batching). No thread of its own: the first request to find the model idle leads — it
/// waits up to `maxDelay` for more rows (never, when the delay is zero), takes the queued requests
/// in arrival order up to `maxRows` rows, runs one forward pass, and hands every request its rows.
/// Requests that arrive while a pass runs queue up and go together in the next one, so with a
/// zero delay batching adds no latency and happens exactly when requests overlap.
/// `Row` is what the forward pass gives for one input row.
public final class MicroBatcher<Row>: @unchecked Sendable {
    public typealias Configuration = BatchingConfiguration
    public typealias Statistics = BatchingStatistics

    /// What one request got back: its rows of output and the size of the pass that computed them.
    public struct Result {
        public var outputs: [Row]
        public var batchRows: Int
    }

    private final class Job {
        let inputs: [[Float]]
        var result: Swift.Result<Result, Error>?
        init(_ inputs: [[Float]]) { self.inputs = inputs }
    }

    public let configuration: Configuration
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var queuedRows = 0
    private var leading = false
    private var counters = Statistics()

    public var statistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        return counters
    }

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Runs `inputs` through `forward`, possibly together with other callers' inputs.
    /// `forward` receives the concatenated rows and must return one output row per input row.
    public func predict(_ inputs: [[Float]], forward: ([[Float]]) throws -> [Row]) throws -> Result {
        if configuration.maxRows <= 1 {
            let outputs = try forward(inputs)
            condition.lock()
            counters.requests += 1; counters.forwardPasses += 1; counters.rows += inputs.count
            condition.unlock()
            return Result(outputs: outputs, batchRows: inputs.count)
        }
        let job = Job(inputs)
        condition.lock()
        counters.requests += 1
        queue.append(job)
        queuedRows += inputs.count
        condition.broadcast()           // a waiting leader may now have a full batch
        while job.result == nil {
            if leading {
                condition.wait()
                continue
            }
            leading = true
            if configuration.maxDelay > 0 {
                let deadline = Date(timeIntervalSinceNow: configuration.maxDelay)
                while queuedRows < configuration.maxRows && condition.wait(until: deadline) {}
            }
            var batch: [Job] = [queue.removeFirst()]
            var rows = batch[0].inputs.count
            while let next = queue.first, rows + next.inputs.count <= configuration.maxRows {
                batch.append(queue.removeFirst())
                rows += next.inputs.count
            }
            queuedRows -= rows
            condition.unlock()
            let outcome = Swift.Result { try forward(batch.count == 1 ? batch[0].inputs : batch.flatMap(\.inputs)) }
            condition.lock()
            counters.forwardPasses += 1
            counters.rows += rows
            var offset = 0
            for member in batch {
                let n = member.inputs.count
                member.result = outcome.map { Result(outputs: Array($0[offset..<(offset + n)]), batchRows: rows) }
                offset += n
            }
            leading = false
            condition.broadcast()
        }
        condition.unlock()
        return try job.result!.get()
    }
}
