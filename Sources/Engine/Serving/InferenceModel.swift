import Foundation

/// A trained network loaded from a checkpoint for prediction: the checkpoint's spec selects its
/// family in ``FamilyRegistry``, whose servable forward pass answers. Thread-safe: calls are
/// serialised on the model (its work buffers are reused). Reads the tensors and spec of every
/// checkpoint format (older formats too: only resuming needs the current one).
public final class InferenceModel: @unchecked Sendable {
    public let spec: ExperimentSpec
    public let inputWidth: Int
    public let outputWidth: Int
    public let labels: [String]
    public let parameterBytes: Int
    /// Tasks a `task` argument may name; 0 when the model takes no task.
    public let taskCount: Int
    /// Whether every prediction needs a task.
    public let requiresTask: Bool
    private let network: ServableNetwork
    /// The softmax readout online adaptation may change, as registered; nil when the model's
    /// readout cannot adapt (only plain MLP classifiers' can).
    public let readout: ReadoutWeights?
    private let readoutTensors: (weight: String, bias: String)?
    private let lock = NSLock()

    /// Errors of the checkpoint or of a request's inputs.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        case unsupported(String)
        case badInput(String)
        public var description: String {
            switch self {
            case .unsupported(let s), .badInput(let s): return s
            }
        }
    }

    /// Largest batch one call accepts.
    public static let maxBatch = 1024

    public init(checkpoint data: Data) throws {
        let file = try Safetensors.decode(data)
        guard let specText = file.metadata["spec"],
              let spec = try? JSONDecoder().decode(ExperimentSpec.self, from: Data(specText.utf8)) else {
            throw Failure.unsupported("the checkpoint carries no readable spec")
        }
        guard let family = FamilyRegistry.family(for: spec), let make = family.makeServable else {
            throw Failure.unsupported("serving \(spec.model.kind) models of the \(spec.protocol.kind.rawValue) protocol is not supported; " +
                                      "MLP and spiking network checkpoints are")
        }
        self.spec = spec
        network = try make(spec, file)
        requiresTask = network.requiresTask
        let split = (network as? ReadoutServable)?.readout
        readout = split?.weights
        readoutTensors = split.map { ($0.weightTensor, $0.biasTensor) }
        taskCount = network.taskCount
        parameterBytes = network.parameterBytes
        // A sequence-input spiking network takes a whole sequence (T × F values) per row.
        if let snn = spec.model.snn, snn.encoding == .sequence { inputWidth = spec.model.layers[0] * snn.steps } else { inputWidth = spec.model.layers[0] }
        outputWidth = spec.model.layers.last!
        let names = (file.metadata["labels"] ?? "").split(separator: "|").map(String.init)
        if spec.protocol.kind == .split && spec.protocol.scenario == .domainIncremental {
            labels = ["even class", "odd class"]
        } else if spec.protocol.kind == .reversal {
            labels = ["go", "no-go"]
        } else {
            labels = names.count == outputWidth ? names : (0..<outputWidth).map { "class \($0)" }
        }
    }

    /// Class probabilities (or values, for value networks), one row per input.
    /// `task` selects a context-gated model's units, a task-incremental model's outputs, or a
    /// permuted-protocol task's pixel permutation.
    public func predict(_ inputs: [[Float]], task: Int? = nil) throws -> [[Float]] {
        try validate(inputs, task: task)
        lock.lock()
        defer { lock.unlock() }
        return network.forward(inputs, task: task)
    }

    /// The features ``readout`` reads, rows × `readout.features`, for inputs already validated.
    public func features(_ inputs: [[Float]]) -> [Float] {
        guard let split = network as? ReadoutServable, readout != nil else { preconditionFailure("the model has no adaptable readout") }
        lock.lock()
        defer { lock.unlock() }
        return split.features(inputs)
    }

    /// `base` (this model's checkpoint file) with its readout replaced by `weights` and `metadata`
    /// added: the file of an adapted version, served like any other.
    public func checkpoint(_ base: Data, withReadout weights: ReadoutWeights, metadata: [String: String]) throws -> Data {
        guard let names = readoutTensors else { preconditionFailure("the model has no adaptable readout") }
        var file = try Safetensors.decode(base)
        file.tensors[names.weight] = Safetensors.Tensor(shape: [weights.features, weights.classes], values: weights.weights)
        file.tensors[names.bias] = Safetensors.Tensor(shape: [weights.classes], values: weights.bias)
        for (k, v) in metadata { file.metadata[k] = v }
        return Safetensors.encode(file)
    }

    /// Throws ``Failure/badInput(_:)`` unless `inputs` is a non-empty batch of at most
    /// ``maxBatch`` finite rows of ``inputWidth`` values (and `task` is one the model takes).
    public func validate(_ inputs: [[Float]], task: Int? = nil) throws {
        if requiresTask && task == nil {
            throw Failure.badInput("task is required: this context-gated model uses different units for each of its \(taskCount) tasks (0–\(taskCount - 1))")
        }
        if let task {
            guard taskCount > 0 else { throw Failure.badInput("task is not taken: this model has no task-specific units, outputs or inputs") }
            guard (0..<taskCount).contains(task) else { throw Failure.badInput("task must be between 0 and \(taskCount - 1), got \(task)") }
        }
        guard !inputs.isEmpty else { throw Failure.badInput("inputs is empty") }
        guard inputs.count <= Self.maxBatch else { throw Failure.badInput("at most \(Self.maxBatch) inputs per request, got \(inputs.count)") }
        for (i, row) in inputs.enumerated() {
            guard row.count == inputWidth else { throw Failure.badInput("inputs[\(i)] has \(row.count) values; the model takes \(inputWidth)") }
            guard row.allSatisfy(\.isFinite) else { throw Failure.badInput("inputs[\(i)] holds a value that is not finite") }
        }
    }
}
