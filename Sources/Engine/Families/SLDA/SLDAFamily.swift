import Foundation
import Support
import CBLAS

/// The streaming-LDA family (`model.kind` `slda`): class means and one shared covariance of the
/// raw pixels, updated batch by batch as the task sequence streams by — no gradient, no replay of
/// stored images. A reference point for continual learning (Hayes & Kanan, 2020): it cannot forget
/// what it has seen, only be confused by what comes later.
public final class SLDAFamily: SupervisedFamily {
    public static let kind = "slda"
    public let spec: ExperimentSpec
    public let train: Dataset
    public let test: Dataset
    private var stream: TaskStream
    public var tasks: [TrainingTask] { stream.tasks }
    public let lda: StreamingLDA
    public var schedule: TrainingSchedule { stream.schedule }
    public private(set) var continual: ContinualRecord
    private var scores: HeldOutScores
    private var buffer: [Float] = []

    public init(spec: ExperimentSpec, train: Dataset, test: Dataset) {
        self.spec = spec
        self.train = train
        self.test = test
        stream = TaskStream(spec: spec, train: train, test: test)
        lda = StreamingLDA(features: spec.model.layers[0], classes: spec.model.layers[1], shrinkage: spec.model.slda?.shrinkage ?? 1e-4)
        continual = ContinualRecord(spec: spec, taskNames: stream.tasks.map(\.name))
        scores = HeldOutScores(validates: spec.data.validates)
    }

    var isContinual: Bool { spec.protocol.isContinual }

    public var selectionMetric: String? { spec.supervisedSelectionMetric }

    public func willTrain() {
        openblas_set_num_threads(1)
        if isContinual { continual.start { evaluate(task: $0).accuracy } }
    }

    /// One batch into the statistics (the same seeded order per task and epoch as the MLP family).
    public func trainStep(_ step: Int, at position: TrainingSchedule.Position, sums: inout MetricSums) -> StepReport {
        let batch = stream.minibatch(at: position)
        let count = batch.indices.count, d = train.features
        if buffer.count < count * d { buffer = [Float](repeating: 0, count: count * d) }
        buffer.withUnsafeMutableBufferPointer { x in
            let labels = TaskStream.load(batch, from: train, into: x.baseAddress!).map(Int.init)
            lda.update(x.baseAddress!, labels: labels, count: count)
        }
        sums.add("seen", Double(count))
        return StepReport(samples: count)
    }

    public func windowMetrics(step: Int, sums: MetricSums.Span, elapsed: Double) -> [MetricSample] {
        elapsed > 0 ? [MetricSample(key: "train.samples_per_s", step: step, value: sums["seen"] / elapsed)] : []
    }

    public func epochEnded(_ position: TrainingSchedule.Position, step: Int, sums: MetricSums.Span) -> [MetricSample] {
        guard !isContinual else { return [] }
        return scores.epochEnded(step: step, epoch: position.epoch, sums: nil) { evaluate(task: 0, on: $0) }
    }

    public func taskEnded(_ t: Int, step: Int) -> [MetricSample] {
        guard isContinual else { return [] }
        return continual.taskEnded(t, step: step) { evaluate(task: $0, on: $1).accuracy }
    }

    /// Loss (softmax cross-entropy of the LDA scores) and accuracy on task t's held-out images,
    /// over the task's outputs (task-incremental) or all.
    public func evaluate(task t: Int, on split: EvaluationSplit = .test) -> Evaluation {
        let task = tasks[t]
        let classes = lda.classes
        return task.evaluate(on: split, train: train, test: test) { x, targets in
            let scores = lda.scores(x, count: targets.count)
            var loss = 0.0, correct = 0
            for (r, y) in targets.enumerated() {
                var row = Array(scores[(r * classes)..<((r + 1) * classes)])
                if let allowed = task.allowedOutputs { for c in 0..<classes where !allowed[c] { row[c] = -.infinity } }
                let top = row.max() ?? 0
                if (row.firstIndex(of: top) ?? 0) == y { correct += 1 }
                let z = top.isFinite ? row.reduce(0.0) { $0 + ($1.isFinite ? Foundation.exp(Double($1 - top)) : 0) } : 1
                loss += top.isFinite && row[y].isFinite ? Foundation.log(z) - Double(row[y] - top) : 30
            }
            return (loss, correct)
        }
    }

    public func summarize(into s: inout [String: JSONValue], sums: MetricSums) {
        s["protocol"] = .string(spec.protocol.kind.rawValue)
        s["model"] = .string("slda")
        scores.summarize(into: &s)
        if isContinual { continual.summarize(into: &s) }
    }

    public func save(to w: inout CheckpointWriter) {
        w.describe("layers", spec.model.layers.map(String.init).joined(separator: ","))
        w.describe("labels", train.labelNames.joined(separator: "|"))
        w.tensor("slda.counts", lda.counts)
        w.tensor("slda.means", lda.means, shape: [lda.classes, lda.features])
        w.tensor("slda.scatter", lda.scatter, shape: [lda.features, lda.features])
        continual.save(to: &w)
        scores.save(to: &w)
    }

    public func load(from r: CheckpointReader) throws {
        try r.tensor("slda.counts", into: lda.counts)
        try r.tensor("slda.means", into: lda.means)
        try r.tensor("slda.scatter", into: lda.scatter)
        lda.invalidate()
        try continual.load(from: r)
        try scores.load(from: r)
        stream.reset()
    }
}

/// The LDA classifier of a checkpoint, served: softmax of its scores (over a task-incremental
/// model's task outputs when a task is given).
final class SLDAServable: ServableNetwork {
    let lda: StreamingLDA
    let spec: ExperimentSpec
    var parameterBytes: Int { (lda.scatter.count + lda.means.count + lda.counts.count) * 4 }
    var taskCount: Int { servableTaskCount(spec) }
    /// Whether a task restricts the outputs (task-incremental split) rather than permuting inputs.
    var taskSelectsOutputs: Bool { spec.protocol.kind == .split }
    var requiresTask: Bool { false }

    init(spec: ExperimentSpec, file: Safetensors.File) throws {
        self.spec = spec
        lda = StreamingLDA(features: spec.model.layers[0], classes: spec.model.layers[1], shrinkage: spec.model.slda?.shrinkage ?? 1e-4)
        try file.load("slda.counts", into: lda.counts)
        try file.load("slda.means", into: lda.means)
        try file.load("slda.scatter", into: lda.scatter)
    }

    func forward(_ inputs: [[Float]], task: Int?) -> [[Float]] {
        let d = lda.features, k = lda.classes
        let flat = inputsOfTask(inputs, spec: spec, task: task).flatMap { $0 }
        let scores = flat.withUnsafeBufferPointer { lda.scores($0.baseAddress!, count: inputs.count) }
        return (0..<inputs.count).map { r in
            var row = Array(scores[(r * k)..<((r + 1) * k)])
            if let task, taskSelectsOutputs { for c in 0..<k where c / 2 != task { row[c] = -.infinity } }
            let top = row.max() ?? 0
            let e = row.map { top.isFinite && $0.isFinite ? Foundation.exp($0 - top) : 0 }
            let z = e.reduce(0, +)
            _ = d
            return z > 0 ? e.map { $0 / z } : [Float](repeating: 1 / Float(k), count: k)
        }
    }
}

extension SLDAFamily {
    /// Streaming linear discriminant analysis on raw inputs (`model.kind` `slda`).
    public static let registration = supervisedRegistration(accepts: { $0.model.kind == "slda" },
                                                            makeServable: { try SLDAServable(spec: $0, file: $1) })
}
