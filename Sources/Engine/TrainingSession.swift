import Foundation

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

/// The metric series every supervised session reports, built in one place.
enum SupervisedMetrics {
    /// `train.loss`, `train.accuracy` and (when time passed) `train.samples_per_s` over a window.
    static func window(step: Int, loss: Double, correct: Int, seen: Int, elapsed: Double) -> [MetricSample] {
        var m = [
            MetricSample(key: "train.loss", step: step, value: loss / Double(max(seen, 1))),
            MetricSample(key: "train.accuracy", step: step, value: Double(correct) / Double(max(seen, 1))),
        ]
        if elapsed > 0 { m.append(MetricSample(key: "train.samples_per_s", step: step, value: Double(seen) / elapsed)) }
        return m
    }

    /// `epoch`, `epoch.train_loss`, `epoch.train_accuracy`, `test.loss`, `test.accuracy` at an epoch's end.
    static func epochEnd(step: Int, epoch: Int, loss: Double, correct: Int, seen: Int, test: (loss: Double, accuracy: Double)) -> [MetricSample] {
        [
            MetricSample(key: "epoch", step: step, value: Double(epoch + 1)),
            MetricSample(key: "epoch.train_loss", step: step, value: loss / Double(max(seen, 1))),
            MetricSample(key: "epoch.train_accuracy", step: step, value: Double(correct) / Double(max(seen, 1))),
            MetricSample(key: "test.loss", step: step, value: test.loss),
            MetricSample(key: "test.accuracy", step: step, value: test.accuracy),
        ]
    }
}

/// What a training session reports to, and asks of, whoever runs it.
public protocol TrainingObserver: AnyObject {
    /// New metric points.
    func session(_ session: TrainingSession, emitted metrics: [MetricSample])
    /// Called every `checkpoint_every_steps` and when training completes; `session.checkpoint()` makes the bytes.
    func sessionReachedCheckpoint(_ session: TrainingSession) throws
    /// Polled between steps; true makes `run(observer:)` return `.stopped`.
    func sessionShouldStop(_ session: TrainingSession) -> Bool
}

public enum TrainingOutcome: Sendable, Equatable { case completed, stopped }

/// A run of an experiment spec, step by step, deterministic for its seed, resumable bit for bit.
public protocol TrainingSession: AnyObject {
    var spec: ExperimentSpec { get }
    /// Steps completed.
    var step: Int { get }
    var totalSteps: Int { get }
    func run(observer: TrainingObserver) throws -> TrainingOutcome
    /// The complete state as safetensors bytes; `extraMetadata` (e.g. the run id) is added.
    func checkpoint(extraMetadata: [String: String]) -> Data
    func restore(from data: Data) throws
    /// The run's results so far (accuracy matrix, transfer measures, reward-task measures, …).
    func summary() -> JSONValue
    /// The metric key that ranks checkpoints (higher is better), or nil when the latest is the best
    /// (reward tasks: the newest network is the adapted one). Sessions checkpoint at every step
    /// where they emit it, so each such checkpoint carries its own score.
    var selectionMetric: String? { get }
}

extension TrainingSession {
    public func checkpoint() -> Data { checkpoint(extraMetadata: [:]) }
}

/// Builds the session a spec asks for.
public enum TrainingSessions {
    public static func make(spec: ExperimentSpec, datasets: DatasetLibrary) throws -> TrainingSession {
        if spec.protocol.kind == .distalReward { return DistalRewardTrainer(spec: spec) }
        if spec.protocol.isReward { return RewardTrainer(spec: spec) }
        let data = try datasets.load(spec.data.dataset)
        if spec.model.kind == "snn" { return SpikingTrainer(spec: spec, train: data.train, test: data.test) }
        return Trainer(spec: spec, train: data.train, test: data.test)
    }
}

/// A checkpoint that cannot be restored into this session.
public struct CheckpointError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The metadata every checkpoint starts with, and its check on restore.
enum CheckpointHeader {
    static func metadata(format: String, session: TrainingSession, extra: [String: String]) -> [String: String] {
        var meta = extra
        meta["format"] = format
        meta["step"] = String(session.step)
        meta["total_steps"] = String(session.totalSteps)
        meta["spec_hash"] = session.spec.hash
        meta["spec"] = String(decoding: session.spec.canonicalJSON(), as: UTF8.self)
        return meta
    }

    /// Decodes a checkpoint of `format` written for this session's spec; returns it and its step.
    static func open(_ data: Data, format: String, session: TrainingSession) throws -> (Safetensors.File, Int) {
        let file = try Safetensors.decode(data)
        guard try file.meta("format") == format else { throw CheckpointError("checkpoint format is not \(format)") }
        guard try file.meta("spec_hash") == session.spec.hash else { throw CheckpointError("checkpoint belongs to a different spec") }
        guard let step = Int(try file.meta("step")), (0...session.totalSteps).contains(step) else {
            throw CheckpointError("checkpoint step is malformed")
        }
        return (file, step)
    }
}

extension Safetensors.File {
    func meta(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw CheckpointError("checkpoint lacks metadata \(key)") }
        return v
    }

    func load(_ name: String, into buffer: FloatBuffer) throws {
        guard let t = tensors[name], t.values.count == buffer.count else {
            throw CheckpointError("checkpoint tensor \(name) is missing or has the wrong size")
        }
        t.values.withUnsafeBufferPointer { buffer.pointer.update(from: $0.baseAddress!, count: buffer.count) }
    }
}

extension JSONValue {
    static func numbers(_ values: [Double]) -> JSONValue { .array(values.map { .number($0) }) }
}
