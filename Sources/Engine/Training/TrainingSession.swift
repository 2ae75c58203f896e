import Foundation
import Support

/// One metric value at a global training step.
public struct MetricSample: Sendable, Equatable {
    public var key: String
    public var step: Int
    public var value: Double
    public init(key: String, step: Int, value: Double) {
        self.key = key
        self.step = step
        self.value = value
    }
}

/// What a training session reports to, and asks of, whoever runs it.
public protocol TrainingObserver: AnyObject {
    /// New metric points.
    func session(_ session: TrainingSession, emitted metrics: [MetricSample])
    /// Called every `checkpoint_every_steps`, at every step that reports the selection metric, and
    /// when training completes; `session.checkpoint()` makes the bytes.
    func sessionReachedCheckpoint(_ session: TrainingSession) throws
    /// Polled between steps; true makes `run(observer:)` return `.stopped`.
    func sessionShouldStop(_ session: TrainingSession) -> Bool
}

public enum TrainingOutcome: Sendable, Equatable {
    case completed
    /// The observer asked to stop.
    case stopped
    /// The session's `deadline` passed (the runner may checkpoint the last step).
    case outOfTime
}

/// A run of an experiment spec, step by step, deterministic for its seed, resumable bit for bit.
/// ``TrainingLoop`` is the one implementation; the protocol is what runners (Jobs, the CLI) see.
public protocol TrainingSession: AnyObject {
    var spec: ExperimentSpec { get }
    /// Steps completed.
    var step: Int { get }
    var totalSteps: Int { get }
    /// Training samples (or trials) processed, over every attempt of the run.
    var samplesSeen: Int { get }
    /// When set, `run` stops with `.outOfTime` at the first step boundary past it.
    var deadline: Date? { get set }
    func run(observer: TrainingObserver) throws -> TrainingOutcome
    /// The complete state as safetensors bytes; `extraMetadata` (e.g. the run id) is added.
    func checkpoint(extraMetadata: [String: String]) -> Data
    func restore(from data: Data) throws
    /// The run's results so far (accuracy matrix, transfer measures, reward-task measures, …).
    func summary() -> JSONValue
    /// The metric key that ranks checkpoints (higher is better), or nil when the latest is the best
    /// (reward tasks: the newest network is the adapted one).
    var selectionMetric: String? { get }
    /// The neuromodulatory effects applied so far (empty unless channels are active).
    var effectTrace: EffectTrace { get }
    /// Makes every step apply `trace`'s effects instead of the channels' (a yoked control).
    func replayEffects(_ trace: EffectTrace) throws
}

extension TrainingSession {
    public func checkpoint() -> Data { checkpoint(extraMetadata: [:]) }
}

/// The metric series every supervised family reports, built in one place.
enum SupervisedMetrics {
    /// Adds one supervised step's summed loss, correct answers and samples to `sums` (the keys
    /// `window` and `epochEnd` read).
    static func add(_ sums: inout MetricSums, loss: Double, correct: Int, seen: Int) {
        sums.add("loss", loss)
        sums.add("correct", Double(correct))
        sums.add("seen", Double(seen))
    }

    /// `train.loss`, `train.accuracy` and (when time passed) `train.samples_per_s` over a window
    /// whose sums hold `loss`, `correct` and `seen`.
    static func window(step: Int, _ sums: MetricSums.Span, elapsed: Double) -> [MetricSample] {
        var m = [
            MetricSample(key: "train.loss", step: step, value: sums.ratio("loss", per: "seen")),
            MetricSample(key: "train.accuracy", step: step, value: sums.ratio("correct", per: "seen")),
        ]
        if elapsed > 0 { m.append(MetricSample(key: "train.samples_per_s", step: step, value: sums["seen"] / elapsed)) }
        return m
    }

    /// `val.loss` and `val.accuracy` (runs with `data.validation`).
    static func validation(step: Int, _ v: Evaluation) -> [MetricSample] {
        [MetricSample(key: "val.loss", step: step, value: v.loss), MetricSample(key: "val.accuracy", step: step, value: v.accuracy)]
    }

    /// `epoch`, `epoch.train_loss`, `epoch.train_accuracy`, `test.loss`, `test.accuracy` at an epoch's end.
    static func epochEnd(step: Int, epoch: Int, _ sums: MetricSums.Span, test: Evaluation) -> [MetricSample] {
        [
            MetricSample(key: "epoch", step: step, value: Double(epoch + 1)),
            MetricSample(key: "epoch.train_loss", step: step, value: sums.ratio("loss", per: "seen")),
            MetricSample(key: "epoch.train_accuracy", step: step, value: sums.ratio("correct", per: "seen")),
            MetricSample(key: "test.loss", step: step, value: test.loss),
            MetricSample(key: "test.accuracy", step: step, value: test.accuracy),
        ]
    }
}

/// Mean loss and accuracy on a test set.
public struct Evaluation: Sendable, Equatable, Codable {
    public var loss: Double
    public var accuracy: Double
    public init(loss: Double, accuracy: Double) {
        self.loss = loss
        self.accuracy = accuracy
    }
}
