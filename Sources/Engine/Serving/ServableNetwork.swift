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
