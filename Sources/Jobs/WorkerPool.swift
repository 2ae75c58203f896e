import Foundation
import Engine
import Storage

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
    private let log: @Sendable (String) -> Void

    private let condition = NSCondition()
    private var stopping = false
    private var wakeups = 0
    private var localCancels: Set<String> = []
    private var alive = 0
    private let group = DispatchGroup()

    public init(store: Store, datasets: DatasetLibrary, checkpointRoot: URL, workers: Int,
                leaseSeconds: Double = 15, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.store = store
        self.datasets = datasets
        self.files = CheckpointFiles(root: checkpointRoot)
        self.workerCount = workers
        self.owner = Identifier.make("worker")
        self.leaseSeconds = leaseSeconds
        self.log = log
    }

    /// Requeues orphaned runs, then starts the worker threads.
    public func start() throws {
        let recovered = try store.recoverOrphanedRuns(owner: owner)
        if recovered > 0 { log("requeued \(recovered) interrupted run(s)") }
        for i in 0..<workerCount {
            group.enter()
            condition.lock(); alive += 1; condition.unlock()
            let t = Thread { [self] in
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

    private func execute(_ run: RunRecord) {
        log("run \(run.id) attempt \(run.attempt) started")
        let spec: ExperimentSpec
        do {
            spec = try JSONDecoder().decode(ExperimentSpec.self, from: Data(run.spec.utf8))
        } catch {
            finish(run, .failed, "stored spec cannot be read: \(error)")
            return
        }
        let session: TrainingSession
        do {
            session = try TrainingSessions.make(spec: spec, datasets: datasets)
        } catch {
            finish(run, .failed, "\(error)")
            return
        }
        let execution = RunExecution(run: run, store: store, files: files, owner: owner, leaseSeconds: leaseSeconds,
                                     shouldShutdown: { [self] in self.isStopping },
                                     isCanceledLocally: { [self] in self.isCanceledLocally(run.id) })
        do {
            let from = try execution.resume(session)
            if from > 0 { log("run \(run.id) resumes from step \(from)") }
            switch try session.run(observer: execution) {
            case .completed:
                try execution.flushMetrics()
                finish(run, .succeeded, nil, completed: session.step, summary: session.summary())
            case .stopped:
                if execution.stopReason == .shutdown {
                    // Nothing to save before the first step: resuming from scratch is the same run.
                    if session.step > max(execution.lastCheckpointStep, 0) { try execution.writeCheckpoint(session) }
                    try execution.flushMetrics()
                    try store.requeueRun(runID: run.id, owner: owner, reason: "interrupted: server shut down at step \(session.step)")
                    log("run \(run.id) checkpointed at step \(session.step) and requeued")
                } else {
                    try execution.flushMetrics()
                    finish(run, .canceled, nil, completed: session.step, summary: session.summary())
                }
            }
        } catch {
            try? execution.flushMetrics()
            finish(run, .failed, "\(error)", completed: session.step)
        }
    }

    private func finish(_ run: RunRecord, _ state: RunState, _ reason: String?, completed: Int? = nil, summary: JSONValue? = nil) {
        do {
            try store.finishRun(runID: run.id, owner: owner, state: state, reason: reason, completed: completed,
                                summary: summary.map { String(decoding: $0.serialized(), as: UTF8.self) })
            log("run \(run.id) \(state.rawValue)" + (reason.map { ": \($0)" } ?? ""))
        } catch {
            log("cannot record end of run \(run.id): \(error)")
        }
    }
}
