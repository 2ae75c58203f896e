import Foundation
import Support

/// The one training loop: it drives any ``TrainingFamily`` step by step and owns what every family
/// shares — the stop/cancel check, the runtime budget, metric and checkpoint cadence, epoch and
/// task bookkeeping, the metric sums, the checkpoint header and the common summary fields.
///
/// Deterministic for a seed and resumable bit for bit: the loop's own state (step, sums, samples,
/// seconds) is saved by name beside the family's.
@dynamicMemberLookup
public final class TrainingLoop<Family: TrainingFamily>: TrainingSession {
    public let family: Family
    public var spec: ExperimentSpec { family.spec }
    public var schedule: TrainingSchedule { family.schedule }
    public var totalSteps: Int { family.schedule.totalSteps }
    public var selectionMetric: String? { family.selectionMetric }
    public private(set) var step = 0
    public var deadline: Date?

    private var sums = MetricSums()
    public private(set) var samplesSeen = 0
    private var trainingSeconds = 0.0
    /// Seconds spent in training steps since the last window's metrics (evaluations, metric
    /// writes and checkpoints excluded, as in the summary's `train_samples_per_s`).
    private var windowSeconds = 0.0

    public init(_ family: Family) {
        self.family = family
    }

    /// The family's properties, read through the loop (`loop.model`, `loop.network`).
    public subscript<T>(dynamicMember path: KeyPath<Family, T>) -> T { family[keyPath: path] }

    @_specialize(exported: true, where Family == MLPFamily)
    @_specialize(exported: true, where Family == SpikingFamily)
    public func run(observer: TrainingObserver) throws -> TrainingOutcome {
        try family.willTrain()
        windowSeconds = 0
        let schedule = family.schedule
        let total = schedule.totalSteps
        let selection = family.selectionMetric
        let metricsEvery = spec.metricsEverySteps, checkpointEvery = spec.checkpointEverySteps
        while step < total {
            if observer.sessionShouldStop(self) { return .stopped }
            if let deadline, Date() >= deadline { return .outOfTime }
            let started = Date()
            let position = schedule.locate(step)
            let report = try family.trainStep(step, at: position, sums: &sums)
            step += 1
            samplesSeen += report.samples
            let seconds = Date().timeIntervalSince(started)
            trainingSeconds += seconds
            windowSeconds += seconds

            var metrics = report.events.map { MetricSample(key: $0.key, step: step, value: $0.value) }
            if step % metricsEvery == 0 || step == total {
                metrics += family.windowMetrics(step: step, sums: sums.window, elapsed: windowSeconds)
                sums.window = .init()
                windowSeconds = 0
            }
            let next = step < total ? schedule.locate(step) : nil
            if next?.task != position.task || next?.epoch != position.epoch {
                metrics += family.epochEnded(position, step: step, sums: sums.epoch)
                sums.epoch = .init()
            }
            if next?.task != position.task {
                metrics += family.taskEnded(position.task, step: step)
            }
            if !metrics.isEmpty { observer.session(self, emitted: metrics) }
            if step % checkpointEvery == 0 || step == total || metrics.contains(where: { $0.key == selection }) {
                try observer.sessionReachedCheckpoint(self)
            }
        }
        return .completed
    }

    // MARK: - Yoked controls

    public var effectTrace: EffectTrace { family.replayableModulators?.trace ?? EffectTrace() }

    public func replayEffects(_ trace: EffectTrace) throws {
        guard let modulators = family.replayableModulators else {
            throw SpecError("replay", "the \(Family.kind) family cannot replay neuromodulatory effects")
        }
        guard trace.count >= totalSteps else {
            throw SpecError("replay", "the effect trace has \(trace.count) steps; this run needs \(totalSteps)")
        }
        modulators.replay = trace
    }

    // MARK: - Summary

    public func summary() -> JSONValue {
        var s: [String: JSONValue] = [
            "steps": .number(Double(step)),
            "total_steps": .number(Double(totalSteps)),
            "train_samples_per_s": .number(trainingSeconds > 0 ? (Double(samplesSeen) / trainingSeconds).rounded() : 0),
        ]
        family.summarize(into: &s, sums: sums)
        return .object(s)
    }

    // MARK: - Checkpoints

    public func checkpoint(extraMetadata: [String: String]) -> Data {
        var writer = CheckpointWriter(family: Family.kind, step: step, totalSteps: totalSteps, spec: spec, extra: extraMetadata)
        writer.state("loop.sums", sums)
        writer.state("loop.samples_seen", samplesSeen)
        writer.state("loop.training_seconds", trainingSeconds)
        family.save(to: &writer)
        return Safetensors.encode(writer.file)
    }

    public func restore(from data: Data) throws {
        let reader = try CheckpointReader(data)
        guard reader.header.family == Family.kind else {
            throw CheckpointError("the checkpoint is of family \(reader.header.family), not \(Family.kind)")
        }
        guard reader.header.specHash == spec.hash else { throw CheckpointError("the checkpoint belongs to a different spec") }
        guard reader.header.step <= totalSteps else { throw CheckpointError("the checkpoint step is beyond the run") }
        try family.load(from: reader)
        sums = try reader.state("loop.sums")
        samplesSeen = try reader.state("loop.samples_seen")
        trainingSeconds = try reader.state("loop.training_seconds")
        step = reader.header.step
    }
}
