import Foundation
import Support
import CBLAS

/// The dopamine-gated sparse-plasticity family (`model.kind` `sparse`): ``SparseCode`` trained on a
/// supervised protocol, one sample at a time within each batch, task-free (it is never told the
/// task; in the task-incremental scenario the softmax runs over the task's outputs, as for MLPs).
public final class SparseFamily: SupervisedFamily {
    public static let kind = "sparse"
    public let spec: ExperimentSpec
    public let train: Dataset
    public let test: Dataset
    private var stream: TaskStream
    public var tasks: [TrainingTask] { stream.tasks }
    public let network: SparseCode
    public var schedule: TrainingSchedule { stream.schedule }
    public private(set) var continual: ContinualRecord
    private var scores: HeldOutScores
    private var buffer: [Float] = []

    public init(spec: ExperimentSpec, train: Dataset, test: Dataset) {
        self.spec = spec
        self.train = train
        self.test = test
        stream = TaskStream(spec: spec, train: train, test: test)
        let l = spec.model.layers
        network = SparseCode(inputs: l[0], units: l[1], classes: l[2], spec: spec.model.sparse!, seed: spec.seed)
        continual = ContinualRecord(spec: spec, taskNames: stream.tasks.map(\.name))
        scores = HeldOutScores(validates: spec.data.validates)
    }

    var isContinual: Bool { spec.protocol.isContinual }

    public var selectionMetric: String? { spec.supervisedSelectionMetric }

    public func willTrain() {
        openblas_set_num_threads(1)
        if isContinual { continual.start { evaluate(task: $0).accuracy } }
    }

    public func trainStep(_ step: Int, at position: TrainingSchedule.Position, sums: inout MetricSums) -> StepReport {
        let batch = stream.minibatch(at: position)
        let count = batch.indices.count, d = train.features
        if buffer.count < count * d { buffer = [Float](repeating: 0, count: count * d) }
        var labels: [Int] = []
        let codes = buffer.withUnsafeMutableBufferPointer { x -> [[Int]] in
            labels = TaskStream.load(batch, from: train, into: x.baseAddress!).map(Int.init)
            return network.code(x.baseAddress!, count: count)
        }
        let rate = Float(spec.optimizer.learningRate)
        var loss = 0.0, correct = 0, dopamine = 0.0
        for r in 0..<count {
            let outcome = network.learn(codes[r], label: labels[r], rate: rate, allowed: batch.task.allowedOutputs)
            loss += outcome.loss
            if outcome.correct { correct += 1 }
            dopamine += outcome.dopamine
        }
        SupervisedMetrics.add(&sums, loss: loss, correct: correct, seen: count)
        sums.add("dopamine", dopamine)
        return StepReport(samples: count)
    }

    public func windowMetrics(step: Int, sums: MetricSums.Span, elapsed: Double) -> [MetricSample] {
        SupervisedMetrics.window(step: step, sums, elapsed: elapsed)
            + [MetricSample(key: "nm.dopamine.rpe", step: step, value: sums.ratio("dopamine", per: "seen"))]
    }

    public func epochEnded(_ position: TrainingSchedule.Position, step: Int, sums: MetricSums.Span) -> [MetricSample] {
        guard !isContinual else { return [] }
        return scores.epochEnded(step: step, epoch: position.epoch, sums: sums) { evaluate(task: 0, on: $0) }
    }

    public func taskEnded(_ t: Int, step: Int) -> [MetricSample] {
        guard isContinual else { return [] }
        return continual.taskEnded(t, step: step) { evaluate(task: $0, on: $1).accuracy }
    }

    public func evaluate(task t: Int, on split: EvaluationSplit = .test) -> Evaluation {
        let task = tasks[t]
        return task.evaluate(on: split, train: train, test: test) { x, targets in
            let codes = network.code(x, count: targets.count)
            var loss = 0.0, correct = 0
            for (r, y) in targets.enumerated() {
                let p = network.probabilities(codes[r], allowed: task.allowedOutputs)
                if (p.indices.max { p[$0] < p[$1] } ?? 0) == y { correct += 1 }
                loss -= Foundation.log(Double(p[y]) + 1e-12)
            }
            return (loss, correct)
        }
    }

    public func summarize(into s: inout [String: JSONValue], sums: MetricSums) {
        s["protocol"] = .string(spec.protocol.kind.rawValue)
        s["model"] = .string("sparse")
        s["mean_dopamine"] = .number(sums.run.ratio("dopamine", per: "seen"))
        scores.summarize(into: &s)
        if isContinual { continual.summarize(into: &s) }
    }

    public func save(to w: inout CheckpointWriter) {
        w.describe("layers", spec.model.layers.map(String.init).joined(separator: ","))
        w.describe("labels", train.labelNames.joined(separator: "|"))
        w.tensor("sparse.projection", network.projection, shape: [network.inputs, network.units])
        w.tensor("sparse.readout", network.readout, shape: [network.units, network.classes])
        continual.save(to: &w)
        scores.save(to: &w)
    }

    public func load(from r: CheckpointReader) throws {
        try r.tensor("sparse.readout", into: network.readout)
        try continual.load(from: r)
        try scores.load(from: r)
        stream.reset()
    }
}

/// A sparse-code checkpoint, served: the softmax of its readout's scores.
final class SparseServable: ServableNetwork {
    let network: SparseCode
    let spec: ExperimentSpec
    var parameterBytes: Int { (network.projection.count + network.readout.count) * 4 }
    var taskCount: Int { servableTaskCount(spec) }
    /// Whether a task restricts the outputs (task-incremental split) rather than permuting inputs.
    var taskSelectsOutputs: Bool { spec.protocol.kind == .split }
    var requiresTask: Bool { false }

    init(spec: ExperimentSpec, file: Safetensors.File) throws {
        guard let sparse = spec.model.sparse else { throw CheckpointError("the spec of a sparse checkpoint lacks model.sparse") }
        self.spec = spec
        let l = spec.model.layers
        network = SparseCode(inputs: l[0], units: l[1], classes: l[2], spec: sparse, seed: spec.seed)
        try file.load("sparse.projection", into: network.projection)
        try file.load("sparse.readout", into: network.readout)
    }

    func forward(_ inputs: [[Float]], task: Int?) -> [[Float]] {
        let flat = inputsOfTask(inputs, spec: spec, task: task).flatMap { $0 }
        let codes = flat.withUnsafeBufferPointer { network.code($0.baseAddress!, count: inputs.count) }
        let allowed = taskSelectsOutputs ? task.map { t in (0..<network.classes).map { $0 / 2 == t } } : nil
        return codes.map { network.probabilities($0, allowed: allowed) }
    }
}

extension SparseFamily {
    /// Dopamine-gated sparse plasticity (`model.kind` `sparse`).
    public static let registration = supervisedRegistration(accepts: { $0.model.kind == "sparse" },
                                                            makeServable: { try SparseServable(spec: $0, file: $1) })
}
