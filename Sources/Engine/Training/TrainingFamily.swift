import Foundation
import Support

/// What one step of a family did: the samples it trained on, and events to report at the step
/// it completed (e.g. `context.boundary` = 1).
public struct StepReport {
    public var samples: Int
    public var events: [(key: String, value: Double)]
    public init(samples: Int, events: [(key: String, value: Double)] = []) {
        self.samples = samples
        self.events = events
    }

    /// A step that may have detected a context boundary (reported as `context.boundary` = 1).
    public init(samples: Int, boundaryDetected: Bool) {
        self.init(samples: samples, events: boundaryDetected ? [("context.boundary", 1)] : [])
    }
}

/// A network family as the one ``TrainingLoop`` drives it: its schedule, its training step, its
/// evaluation and its state. The loop owns everything else (stop and cancel checks, the runtime
/// budget, metric and checkpoint cadence, epoch and task bookkeeping, metric sums, the header of
/// checkpoints, the common summary fields).
public protocol TrainingFamily: AnyObject {
    /// The registry key written into checkpoints (`family`).
    static var kind: String { get }
    var spec: ExperimentSpec { get }
    /// Tasks × epochs × steps of the run.
    var schedule: TrainingSchedule { get }
    /// The metric that ranks checkpoints (higher is better), or nil when the latest is best.
    var selectionMetric: String? { get }

    /// Called at the start of every `run` (fresh or resumed), before the first step.
    func willTrain() throws
    /// Trains global step `step` (0-based) at `position`, adding what it measured to `sums`.
    func trainStep(_ step: Int, at position: TrainingSchedule.Position, sums: inout MetricSums) throws -> StepReport
    /// Metrics of the window that ends at `step`; `elapsed`: seconds its training steps took
    /// (evaluations and checkpoints excluded). The loop then clears the window's sums.
    func windowMetrics(step: Int, sums: MetricSums.Span, elapsed: Double) -> [MetricSample]
    /// An epoch of `position.task` ended at `step` (the loop then clears the epoch's sums).
    func epochEnded(_ position: TrainingSchedule.Position, step: Int, sums: MetricSums.Span) -> [MetricSample]
    /// Task `task` ended at `step` (after its last epoch's `epochEnded`).
    func taskEnded(_ task: Int, step: Int) -> [MetricSample]
    /// The family's own summary fields (the loop adds steps, total_steps, train_samples_per_s).
    func summarize(into summary: inout [String: JSONValue], sums: MetricSums)
    /// Writes the family's tensors and state.
    func save(to writer: inout CheckpointWriter)
    /// Restores what `save` wrote.
    func load(from reader: CheckpointReader) throws
    /// The modulators whose effects a yoked control can replay; nil: the family has none that can.
    var replayableModulators: NeuromodulatorSystem? { get }
}

extension TrainingFamily {
    public func willTrain() throws {}
    public func windowMetrics(step: Int, sums: MetricSums.Span, elapsed: Double) -> [MetricSample] { [] }
    public func epochEnded(_ position: TrainingSchedule.Position, step: Int, sums: MetricSums.Span) -> [MetricSample] { [] }
    public func taskEnded(_ task: Int, step: Int) -> [MetricSample] { [] }
    public var replayableModulators: NeuromodulatorSystem? { nil }
}

/// A family trained on a data set's training split and evaluated on its test split (MLP, spiking).
public protocol SupervisedFamily: TrainingFamily {
    init(spec: ExperimentSpec, train: Dataset, test: Dataset)
}

extension SupervisedFamily {
    /// The registration of a supervised family: its session loads the spec's data set.
    static func supervisedRegistration(accepts: @escaping @Sendable (ExperimentSpec) -> Bool,
                             makeServable: (@Sendable (ExperimentSpec, Safetensors.File) throws -> ServableNetwork)?) -> FamilyRegistration {
        FamilyRegistration(kind: kind, accepts: accepts, makeSession: { spec, datasets in
            let data = try datasets.load(spec.data.dataset)
            return TrainingLoop(Self(spec: spec, train: data.train, test: data.test))
        }, makeServable: makeServable)
    }
}

extension TrainingLoop where Family: SupervisedFamily {
    /// The training session of the family for `spec` on these splits.
    public convenience init(spec: ExperimentSpec, train: Dataset, test: Dataset) {
        self.init(Family(spec: spec, train: train, test: test))
    }
}
