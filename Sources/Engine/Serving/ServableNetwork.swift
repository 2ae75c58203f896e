import Foundation

/// A family's forward pass for serving, built from a checkpoint's tensors and spec.
/// Not thread-safe: ``InferenceModel`` serialises calls.
public protocol ServableNetwork: AnyObject {
    /// Bytes of the loaded parameters (the model cache's measure).
    var parameterBytes: Int { get }
    /// Tasks a `task` argument may name (context-gated, task-incremental and permuted-protocol
    /// models); 0 when the model takes no task.
    var taskCount: Int { get }
    /// Whether every prediction needs a task (context-gated models: each task uses its own units).
    var requiresTask: Bool { get }
    /// Output rows (probabilities, or values for value networks), one per input row; the inputs
    /// are already validated.
    func forward(_ inputs: [[Float]], task: Int?) -> [[Float]]
}

/// A servable network whose last layer is a softmax readout over features the rest of the
/// network computes: online adaptation (``ReadoutLearner``) changes that readout only.
protocol ReadoutServable: ServableNetwork {
    /// The readout's tensors in the checkpoint and its loaded weights; nil when this model's
    /// readout cannot adapt on its own (task-dependent units or outputs, value outputs).
    var readout: (weightTensor: String, biasTensor: String, weights: ReadoutWeights)? { get }
    /// The readout's inputs for validated `inputs`, rows × features.
    func features(_ inputs: [[Float]]) -> [Float]
}

/// The inputs of a permuted-protocol model's task `task`, as training fed them (`x'[j] = x[perm[j]]`);
/// unchanged for task 0, no task, or any other protocol.
func inputsOfTask(_ inputs: [[Float]], spec: ExperimentSpec, task: Int?) -> [[Float]] {
    guard let task, let perm = TaskSequence.permutation(spec: spec, task: task, features: spec.model.layers[0]) else { return inputs }
    return inputs.map { x in perm.map { x[Int($0)] } }
}

/// Tasks a family's servable takes: those of a task-incremental split (output groups) or of a
/// permuted protocol (pixel permutations); 0 otherwise.
func servableTaskCount(_ spec: ExperimentSpec) -> Int {
    let p = spec.protocol
    if p.kind == .permuted { return p.tasks }
    if p.kind == .split && (p.scenario ?? .taskIncremental) == .taskIncremental { return p.tasks }
    return 0
}
