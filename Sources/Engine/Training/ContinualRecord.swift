import Foundation
import Support

/// Which held-out images an evaluation uses.
public enum EvaluationSplit: Sendable { case test, validation }

/// What a supervised family records of a task sequence — the accuracy matrix R[i][j] (accuracy on
/// task j after training task i) on test and, with `data.validation`, on validation, and the
/// untrained network's accuracies — and the metrics and summary fields it reports from them.
/// Shared by every family that learns task sequences (MLP, streaming LDA).
public struct ContinualRecord: Sendable, Equatable {
    public private(set) var accuracyMatrix: [[Double]] = []
    public private(set) var initialAccuracy: [Double] = []
    public private(set) var validationMatrix: [[Double]] = []
    let spec: ExperimentSpec
    let taskNames: [String]

    init(spec: ExperimentSpec, taskNames: [String]) {
        self.spec = spec
        self.taskNames = taskNames
    }

    var validates: Bool { spec.data.validates }
    var joint: Bool { spec.protocol.joint }

    /// The ranking metric of checkpoints: on validation when the run holds one out.
    var selectionMetric: String { validates ? "continual.val_average_accuracy" : "continual.average_accuracy" }

    /// Before the first step: the untrained network's accuracy on every task.
    mutating func start(_ accuracy: (Int) -> Double) {
        if initialAccuracy.isEmpty { initialAccuracy = taskNames.indices.map(accuracy) }
    }

    /// After training task t: a row of each matrix and its metrics (`task.<j>.accuracy`,
    /// `continual.average_accuracy`, the `val` twins, `continual.tasks_done`).
    mutating func taskEnded(_ t: Int, step: Int, accuracy: (Int, EvaluationSplit) -> Double) -> [MetricSample] {
        let row = taskNames.indices.map { accuracy($0, .test) }
        accuracyMatrix.append(row)
        var m = row.enumerated().map { MetricSample(key: "task.\($0.offset).accuracy", step: step, value: $0.element) }
        m.append(MetricSample(key: "continual.average_accuracy", step: step, value: seenMean(row, t)))
        if validates {
            let validationRow = taskNames.indices.map { accuracy($0, .validation) }
            validationMatrix.append(validationRow)
            m += validationRow.enumerated().map { MetricSample(key: "task.\($0.offset).val_accuracy", step: step, value: $0.element) }
            m.append(MetricSample(key: "continual.val_average_accuracy", step: step, value: seenMean(validationRow, t)))
        }
        m.append(MetricSample(key: "continual.tasks_done", step: step, value: Double(t + 1)))
        return m
    }

    /// The mean over the tasks trained so far (all of them for joint training).
    private func seenMean(_ row: [Double], _ t: Int) -> Double {
        let seen = joint ? row[...] : row.prefix(t + 1)
        return seen.reduce(0, +) / Double(seen.count)
    }

    /// The summary fields: scenario, tasks, matrices, average accuracy, transfer and forgetting
    /// (forward transfer `null` in the class-incremental scenario, where unseen classes score 0 by
    /// construction; transfer and forgetting `null` for joint training).
    func summarize(into s: inout [String: JSONValue]) {
        if validates, let row = validationMatrix.last {
            s["val_accuracy_matrix"] = .array(validationMatrix.map { .numbers($0) })
            s["val_average_accuracy"] = .number(seenMean(row, validationMatrix.count - 1))
        }
        s["scenario"] = spec.protocol.scenario.map { .string($0.rawValue) } ?? .string("domain-incremental")
        s["tasks"] = .array(taskNames.map { .string($0) })
        s["initial_accuracy"] = .numbers(initialAccuracy)
        s["accuracy_matrix"] = .array(accuracyMatrix.map { .numbers($0) })
        if joint, let row = accuracyMatrix.last {
            s["average_accuracy"] = .number(seenMean(row, 0))
            s["backward_transfer"] = .null
            s["forward_transfer"] = .null
            s["forgetting"] = .null
            s["complete"] = .bool(true)
            s["joint"] = .bool(true)
        } else if !accuracyMatrix.isEmpty {
            let m = ContinualMetrics(matrix: accuracyMatrix.map { Array($0.prefix(accuracyMatrix.count)) },
                                     initial: Array(initialAccuracy.prefix(accuracyMatrix.count)))
            s["average_accuracy"] = .number(m.averageAccuracy)
            s["backward_transfer"] = .number(m.backwardTransfer)
            s["forward_transfer"] = spec.protocol.scenario == .classIncremental ? .null : .number(m.forwardTransfer)
            s["forgetting"] = .number(m.forgetting)
            s["complete"] = .bool(accuracyMatrix.count == taskNames.count)
        }
    }

    /// Checkpoint state: `accuracy_matrix`, `initial_accuracy`, and `validation_matrix` with a validation split.
    func save(to w: inout CheckpointWriter) {
        w.state("accuracy_matrix", accuracyMatrix)
        w.state("initial_accuracy", initialAccuracy)
        if validates { w.state("validation_matrix", validationMatrix) }
    }

    mutating func load(from r: CheckpointReader) throws {
        accuracyMatrix = try r.state("accuracy_matrix")
        initialAccuracy = try r.state("initial_accuracy")
        if validates { validationMatrix = try r.state("validation_matrix") }
    }
}

/// The latest held-out scores of a single-task run — test, and validation with `data.validation` —
/// with their epoch-end metrics, summary fields and checkpoint state. Shared by the supervised families.
public struct HeldOutScores: Sendable, Equatable {
    public private(set) var test: Evaluation?
    public private(set) var validation: Evaluation?
    let validates: Bool

    init(validates: Bool) { self.validates = validates }

    /// Scores the held-out splits at the end of epoch `epoch`: `epoch`, the training sums' epoch
    /// metrics when the family has them (else none), `test.*`, and `val.*` with a validation split.
    mutating func epochEnded(step: Int, epoch: Int, sums: MetricSums.Span?, evaluate: (EvaluationSplit) -> Evaluation) -> [MetricSample] {
        let t = evaluate(.test)
        test = t
        var m = sums.map { SupervisedMetrics.epochEnd(step: step, epoch: epoch, $0, test: t) }
            ?? [MetricSample(key: "epoch", step: step, value: Double(epoch + 1)),
                MetricSample(key: "test.loss", step: step, value: t.loss), MetricSample(key: "test.accuracy", step: step, value: t.accuracy)]
        if validates {
            let v = evaluate(.validation)
            validation = v
            m += SupervisedMetrics.validation(step: step, v)
        }
        return m
    }

    func summarize(into s: inout [String: JSONValue]) {
        if let t = test { s["test_accuracy"] = .number(t.accuracy); s["test_loss"] = .number(t.loss) }
        if let v = validation { s["val_accuracy"] = .number(v.accuracy); s["val_loss"] = .number(v.loss) }
    }

    /// Checkpoint state `final_test` (and `final_validation`).
    func save(to w: inout CheckpointWriter) {
        w.state("final_test", test)
        if validates { w.state("final_validation", validation) }
    }

    mutating func load(from r: CheckpointReader) throws {
        test = try r.state("final_test")
        if validates { validation = try r.state("final_validation") }
    }
}
