import Foundation
import Support
import Engine
import ObjectStore
import Storage
import CSystemShims

/// The worker queue: N threads that lease queued runs from the store and train them.
///
/// A run is `running` only while a worker holds its lease (renewed every second). At start-up,
/// runs left `running` by a previous process go back to `queued` and later resume from their last
/// checkpoint. On shutdown, each running run is checkpointed and requeued.
public final class WorkerPool: @unchecked Sendable {
    public let store: Store
    public let datasets: DatasetLibrary
    public let files: CheckpointFiles
    public let workerCount: Int
    /// This process's lease owner id.
    public let owner: String
    public let leaseSeconds: Double
    private let logSink: @Sendable (String, String?) -> Void

    private let condition = NSCondition()
    private var stopping = false
    private var wakeups = 0
    private var localCancels: Set<String> = []
    private var alive = 0
    private var busy = 0
    private var trained = 0
    private let group = DispatchGroup()
    private var stopListening: (@Sendable () -> Void)?

    /// Bytes data sets and checkpoints may take together (`--disk-quota-bytes`); a run whose next
    /// checkpoint would pass it fails, saying so. nil: no quota.
    public var diskQuotaBytes: Int?

    /// The training threads' niceness (0–19, Linux per-thread): above 0, the scheduler prefers
    /// the HTTP threads when both want a core, so request latency stays flat while runs train.
    public var niceness = 10

    /// This node's name: every lease this process takes is `<node>/<random>`, so that a later
    /// process of the same node takes back its runs at once while other nodes' live leases are
    /// left alone (they are requeued only when they expire).
    public let node: String

    /// `node`: this node's name (nil: a fresh one, so nothing is taken back at start-up but expired leases).
    public convenience init(store: Store, datasets: DatasetLibrary, checkpointRoot: URL, workers: Int,
                            leaseSeconds: Double = 15, node: String? = nil,
                            log: @escaping @Sendable (_ message: String, _ runID: String?) -> Void = { _, _ in }) {
        self.init(store: store, datasets: datasets, checkpoints: CheckpointFiles(root: checkpointRoot), workers: workers,
                  leaseSeconds: leaseSeconds, node: node, log: log)
    }

    /// `checkpoints`: where checkpoints go (a folder, or an object store shared by the nodes).
    public init(store: Store, datasets: DatasetLibrary, checkpoints: CheckpointFiles, workers: Int,
                leaseSeconds: Double = 15, node: String? = nil,
                log: @escaping @Sendable (_ message: String, _ runID: String?) -> Void = { _, _ in }) {
        self.store = store
        self.datasets = datasets
        self.files = checkpoints
        self.workerCount = workers
        self.node = node ?? Identifier.make("node")
        self.owner = self.node + "/" + Identifier.make("worker")
        self.leaseSeconds = leaseSeconds
        self.logSink = log
    }

    /// Requeues orphaned runs, then starts the worker threads.
    public func start() throws {
        let recovered = try store.recoverOrphanedRuns(nodePrefix: node + "/")
        if recovered > 0 { log("requeued \(recovered) interrupted run(s)") }
        // On PostgreSQL, runs queued through any node wake this node's idle workers at once.
        if workerCount > 0 { stopListening = store.listenForQueuedRuns { [weak self] in self?.wake() } }
        for i in 0..<workerCount {
            group.enter()
            condition.lock(); alive += 1; condition.unlock()
            let t = Thread { [self] in
                nm_set_thread_name("worker-\(i)")
                // Training yields to request handling: a busy core answers requests first.
                if self.niceness > 0 { _ = nm_set_thread_niceness(Int32(self.niceness)) }
                self.workerLoop()
                self.condition.lock(); self.alive -= 1; self.condition.unlock()
                self.group.leave()
            }
            t.name = "worker-\(i)"
            t.stackSize = 4 << 20
            t.start()
        }
    }

    /// Worker threads currently running (readiness).
    public var aliveWorkers: Int {
        condition.lock(); defer { condition.unlock() }
        return alive
    }

    private func log(run: String? = nil, _ message: String) { logSink(message, run) }

    /// Training samples (or trials) processed by this process's workers since it started.
    public var samplesTrained: Int {
        condition.lock(); defer { condition.unlock() }
        return trained
    }

    /// Workers executing a run now (the busy ratio of `GET /metrics`).
    public var busyWorkers: Int {
        condition.lock(); defer { condition.unlock() }
        return busy
    }

    /// Tells idle workers that a run was queued.
    public func wake() {
        condition.lock()
        wakeups += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Makes the worker training `runID` (if in this process) stop at its next step.
    public func cancelLocally(_ runID: String) {
        condition.lock()
        localCancels.insert(runID)
        condition.unlock()
    }

    /// Stops the workers: running runs are checkpointed and requeued. Waits up to `timeout` seconds.
    @discardableResult
    public func shutdown(timeout: Double = 8) -> Bool {
        stopListening?()
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        return group.wait(timeout: .now() + timeout) == .success
    }

    private var isStopping: Bool {
        condition.lock(); defer { condition.unlock() }
        return stopping
    }

    private func isCanceledLocally(_ id: String) -> Bool {
        condition.lock(); defer { condition.unlock() }
        return localCancels.contains(id)
    }

    private func workerLoop() {
        while !isStopping {
            condition.lock()
            let seen = wakeups
            condition.unlock()
            let leased: RunRecord?
            do {
                leased = try store.leaseNextRun(owner: owner, leaseSeconds: leaseSeconds)
            } catch {
                log("lease failed: \(error)")
                leased = nil
            }
            guard let run = leased else {
                sweepExpiredLeases()
                condition.lock()
                if !stopping && wakeups == seen {
                    _ = condition.wait(until: Date().addingTimeInterval(0.5))
                }
                condition.unlock()
                continue
            }
            execute(run)
            condition.lock()
            localCancels.remove(run.id)
            condition.unlock()
        }
    }

    private var lastSweep = Date()

    /// Requeues runs whose lease expired while this process runs (a worker that could not record
    /// its run's end, e.g. on a full disk). At most every half lease; idle workers only.
    private func sweepExpiredLeases() {
        condition.lock()
        let due = Date().timeIntervalSince(lastSweep) >= leaseSeconds / 2
        if due { lastSweep = Date() }
        condition.unlock()
        guard due else { return }
        do {
            let n = try store.requeueExpiredLeases()
            if n > 0 { log("requeued \(n) run(s) whose lease expired") }
        } catch {
            log("cannot requeue runs whose lease expired: \(error)")
        }
    }

    private func execute(_ run: RunRecord) {
        condition.lock(); busy += 1; condition.unlock()
        defer { condition.lock(); busy -= 1; condition.unlock() }
        log(run: run.id, "run \(run.id) attempt \(run.attempt) started")
        // From here on the lease is renewed every second, even while the session is built (a
        // data set fetched from the object store) or a checkpoint write waits for the store.
        let keeper = LeaseKeeper(store: store, run: run, owner: owner, leaseSeconds: leaseSeconds)
        keeper.start()
        defer { keeper.stop() }
        let spec: ExperimentSpec
        do {
            spec = try JSONDecoder().decode(ExperimentSpec.self, from: Data(run.spec.utf8))
        } catch {
            finish(run, .failed, "stored spec cannot be read: \(error)")
            return
        }
        let policy = spec.executionPolicy
        if run.failures >= policy.maxAttempts {
            finish(run, .failed, "gave up after \(run.failures) interrupted attempts (execution.max_attempts \(policy.maxAttempts))"
                   + (run.failureReason.map { "; the last: \($0)" } ?? ""))
            return
        }
        let session: TrainingSession
        do {
            session = try FamilyRegistry.makeSession(spec: spec, datasets: datasets)
        } catch let error as SpecError {
            finish(run, .failed, "\(error)")
            return
        } catch {
            retryOrFail(run, policy, "cannot start: \(error)")   // e.g. the dataset is not installed yet
            return
        }
        if let replay = spec.replay {
            // A yoked control: its source run's effect trace, from that run's final checkpoint.
            do {
                guard let source = run.afterRun, let checkpoint = try store.latestCheckpoint(runID: source) else {
                    finish(run, .failed, "a yoked control needs the checkpoint of the run it replays (\(run.afterRun ?? "none"))")
                    return
                }
                let trace = try EffectTrace(checkpoint: try files.read(relative: checkpoint.file))
                try session.replayEffects(replay.apply(to: trace))
            } catch let error as SpecError {
                finish(run, .failed, "\(error)")
                return
            } catch {
                retryOrFail(run, policy, "cannot read the effect trace to replay: \(error)")
                return
            }
        }
        let execution = RunExecution(run: run, store: store, files: files, owner: owner, keeper: keeper,
                                     shouldShutdown: { [self] in self.isStopping },
                                     isCanceledLocally: { [self] in self.isCanceledLocally(run.id) })
        if let keepLast = policy.keepLast { execution.retention = (keepLast, policy.keepBest ?? 0) }
        execution.diskQuotaBytes = diskQuotaBytes
        execution.onSamples = { [self] n in condition.lock(); trained += n; condition.unlock() }
        if let budget = policy.maxRuntimeSeconds {
            session.deadline = Date(timeIntervalSince1970: (run.startedAt ?? Date().timeIntervalSince1970) + budget)
        }
        do {
            let from = try execution.resume(session)
            if from > 0 { log(run: run.id, "run \(run.id) resumes from step \(from)") }
            switch try session.run(observer: execution) {
            case .completed:
                try execution.flushMetrics()
                finish(run, .succeeded, nil, completed: session.step, summary: session.summary())
            case .outOfTime:
                // Keep what was learned: a final checkpoint, then fail (a budget is not retried).
                if session.step > max(execution.lastCheckpointStep, 0) { try execution.writeCheckpoint(session) }
                try execution.flushMetrics()
                finish(run, .failed, "exceeded execution.max_runtime_s (\(Int(policy.maxRuntimeSeconds ?? 0)) s) at step \(session.step)",
                       completed: session.step, summary: session.summary())
            case .stopped:
                switch execution.stopReason {
                case .shutdown?:
                    // Nothing to save before the first step: resuming from scratch is the same run.
                    if session.step > max(execution.lastCheckpointStep, 0) {
                        // Over the quota, the run goes back to the queue from its last checkpoint.
                        do { try execution.writeCheckpoint(session) } catch JobError.quota {}
                    }
                    try execution.flushMetrics()
                    try store.requeueRun(runID: run.id, owner: owner, attempt: run.attempt, reason: "interrupted: server shut down at step \(session.step)")
                    log(run: run.id, "run \(run.id) checkpointed at step \(session.step) and requeued")
                case .canceled?, nil:
                    try execution.flushMetrics()
                    finish(run, .canceled, nil, completed: session.step, summary: session.summary())
                case .leaseLost?:
                    log(run: run.id, "run \(run.id): the lease of attempt \(run.attempt) expired and another worker took the run over; this worker writes nothing more")
                }
            }
        } catch let error as SpecError {
            try? execution.flushMetrics()
            finish(run, .failed, "\(error)", completed: session.step)
        } catch let error as CheckpointError where error.isUnsupportedFormat {
            finish(run, .failed, error.description)
        } catch StoreError.fenced(let reason) {
            log(run: run.id, "fenced: \(reason); this worker writes nothing more for the run")
        } catch JobError.quota(let reason) {
            try? execution.flushMetrics()
            finish(run, .failed, reason, completed: session.step)
        } catch {
            // Writing checkpoints or metrics failed (disk full, unwritable folder, …): infrastructure.
            try? execution.flushMetrics()
            retryOrFail(run, policy, "interrupted at step \(session.step): \(error)")
        }
    }

    /// After an infrastructure failure: back to the queue with capped exponential backoff, or
    /// failed when the attempts are spent.
    private func retryOrFail(_ run: RunRecord, _ policy: ExecutionSpec, _ reason: String) {
        let failures = run.failures + 1
        guard failures < policy.maxAttempts else {
            finish(run, .failed, "gave up after \(failures) interrupted attempts (execution.max_attempts \(policy.maxAttempts)); the last: \(reason)")
            return
        }
        let delay = policy.backoff(retry: failures)
        do {
            try store.retryRun(runID: run.id, owner: owner, attempt: run.attempt, reason: reason, delay: delay)
            log(run: run.id, "run \(run.id) will retry in \(delay) s (\(failures) of \(policy.maxAttempts - 1) retries): \(reason)")
        } catch {
            log(run: run.id, "cannot requeue run \(run.id): \(error)")
        }
    }

    private func finish(_ run: RunRecord, _ state: RunState, _ reason: String?, completed: Int? = nil, summary: JSONValue? = nil) {
        do {
            try store.finishRun(runID: run.id, owner: owner, attempt: run.attempt, state: state, reason: reason, completed: completed,
                                summary: summary.map { String(decoding: $0.serialized(), as: UTF8.self) })
            log(run: run.id, "run \(run.id) \(state.rawValue)" + (reason.map { ": \($0)" } ?? ""))
        } catch {
            log(run: run.id, "cannot record end of run \(run.id): \(error)")
        }
    }
}
