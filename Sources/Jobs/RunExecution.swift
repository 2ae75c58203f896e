import Foundation
import Support
import Engine
import ObjectStore
import Storage

/// Drives one leased run: resumes the session from the last checkpoint, streams metrics,
/// checkpoints and summaries into the store, honours cancel and shutdown.
final class RunExecution: TrainingObserver {
    enum StopReason {
        case canceled, shutdown
        /// The lease expired and another worker took the run over: write nothing more.
        case leaseLost
    }

    let run: RunRecord
    let store: Store
    let files: CheckpointFiles
    let owner: String
    let shouldShutdown: () -> Bool
    let isCanceledLocally: () -> Bool

    private var pending: [MetricPoint] = []
    /// The newest value of the session's selection metric: it scores a checkpoint taken at its step.
    private var lastSelection: MetricSample?
    private var lastFlush = Date()
    /// Renews the lease on its own thread; tells of cancel requests and a lost lease.
    let keeper: LeaseKeeper
    private(set) var stopReason: StopReason?
    private(set) var lastCheckpointStep = -1
    /// Checkpoint retention (`execution.keep_last`, `keep_best`); nil: keep every checkpoint.
    var retention: (keepLast: Int, keepBest: Int)?
    /// Bytes data sets and checkpoints may take together; a checkpoint that would pass it fails
    /// the run (nothing is written). nil: no quota.
    var diskQuotaBytes: Int?
    /// Told how many samples were trained since its last call (the service's throughput counter).
    var onSamples: (Int) -> Void = { _ in }
    private var lastSamplesSeen: Int?

    init(run: RunRecord, store: Store, files: CheckpointFiles, owner: String, keeper: LeaseKeeper,
         shouldShutdown: @escaping () -> Bool, isCanceledLocally: @escaping () -> Bool) {
        self.run = run
        self.store = store
        self.keeper = keeper
        self.files = files
        self.owner = owner
        self.shouldShutdown = shouldShutdown
        self.isCanceledLocally = isCanceledLocally
    }

    /// Restores the session from the newest readable checkpoint and drops metric points recorded
    /// after it (they will be produced again). Returns the step resumed from. A checkpoint that is
    /// intact but of a format this build cannot resume fails the run (``CheckpointError``) rather
    /// than silently training it again from an older state.
    func resume(_ session: TrainingSession) throws -> Int {
        var resumedStep = 0
        for record in try store.checkpoints(runID: run.id).reversed() {
            guard let data = try? files.read(relative: record.file), SHA256.hex(data) == record.sha256 else { continue }
            do {
                try session.restore(from: data)
            } catch let error as CheckpointError where error.isUnsupportedFormat {
                throw CheckpointError("checkpoint \(record.id) at step \(record.step): \(error.description)", unsupportedFormat: true)
            } catch {
                continue
            }
            resumedStep = record.step
            lastCheckpointStep = record.step
            break
        }
        try store.deleteMetrics(runID: run.id, afterStep: resumedStep, lease: lease)
        lastSamplesSeen = session.samplesSeen   // count this attempt's samples only
        return resumedStep
    }

    /// The fencing token every write carries.
    var lease: Lease { Lease(runID: run.id, owner: owner, attempt: run.attempt) }

    func flushMetrics() throws {
        try store.appendMetrics(runID: run.id, pending, lease: lease)
        pending.removeAll(keepingCapacity: true)
        lastFlush = Date()
    }

    /// Writes a checkpoint for the session's current step (with the pending metrics and the
    /// summary so far, in one transaction).
    func writeCheckpoint(_ session: TrainingSession) throws {
        let id = Identifier.make("ckpt")
        let relative = files.relativeName(runID: run.id, checkpointID: id)
        let data = session.checkpoint(extraMetadata: ["run_id": run.id, "checkpoint_id": id, "attempt": String(run.attempt)])
        if let quota = diskQuotaBytes {
            let used = try store.storedBytes()
            if used + data.count > quota {
                throw JobError.quota("disk quota exceeded: a checkpoint of \(data.count) bytes at step \(session.step) would pass the quota of \(quota) bytes for data sets and checkpoints (\(used) used); set execution.keep_last, delete data sets, or raise --disk-quota-bytes")
            }
        }
        try files.write(data, relative: relative)
        let scored = lastSelection.flatMap { $0.step == session.step ? $0 : nil }
        let record = CheckpointRecord(id: id, runID: run.id, step: session.step, file: relative, size: data.count,
                                      sha256: SHA256.hex(data), createdAt: Date().timeIntervalSince1970,
                                      score: scored?.value, scoreMetric: scored?.key)
        do {
            try store.recordCheckpoint(record, metrics: pending, completed: session.step,
                                       summary: String(decoding: session.summary().serialized(), as: UTF8.self), lease: lease)
        } catch {
            // Not recorded: not kept — unless the commit's outcome is unknown (the connection
            // dropped during COMMIT): then the row may exist, and the orphan sweep decides later.
            if !((error as? PostgresError)?.isCommitOutcomeUnknown ?? false) { files.remove(relative: relative) }
            throw error
        }
        pending.removeAll(keepingCapacity: true)
        lastFlush = Date()
        lastCheckpointStep = session.step
        if let retention {
            for old in try store.pruneCheckpoints(runID: run.id, keepLast: retention.keepLast, keepBest: retention.keepBest) {
                files.remove(relative: old.file)
            }
        }
    }

    /// Reports the samples trained since the last report (this attempt's only) to `onSamples`.
    private func countSamples(_ session: TrainingSession) {
        let seen = session.samplesSeen
        if seen > (lastSamplesSeen ?? 0) { onSamples(seen - (lastSamplesSeen ?? 0)) }
        lastSamplesSeen = seen
    }

    // MARK: TrainingObserver

    func session(_ session: TrainingSession, emitted metrics: [MetricSample]) {
        countSamples(session)
        let now = Date().timeIntervalSince1970
        pending.append(contentsOf: metrics.map { MetricPoint(key: $0.key, step: $0.step, value: $0.value, time: now) })
        if let key = session.selectionMetric, let m = metrics.last(where: { $0.key == key }) { lastSelection = m }
        if pending.count >= 500 || Date().timeIntervalSince(lastFlush) > 0.5 {
            try? flushMetrics()  // a failed flush keeps the points for the next try
        }
    }

    func sessionReachedCheckpoint(_ session: TrainingSession) throws {
        countSamples(session)
        try writeCheckpoint(session)
    }

    func sessionShouldStop(_ session: TrainingSession) -> Bool {
        keeper.report(completed: session.step, total: session.totalSteps)
        if shouldShutdown() { stopReason = .shutdown; return true }
        if keeper.leaseLost { stopReason = .leaseLost; return true }
        if keeper.cancelRequested || isCanceledLocally() { stopReason = .canceled; return true }
        return false
    }
}
