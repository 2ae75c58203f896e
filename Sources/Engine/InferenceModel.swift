import Foundation

/// A trained network loaded from a checkpoint for prediction. Thread-safe: calls are serialised
/// on the model (its work buffers are reused).
public final class InferenceModel: @unchecked Sendable {
    public let spec: ExperimentSpec
    public let inputWidth: Int
    public let labels: [String]
    public let parameterBytes: Int
    /// Tasks a `task` argument may name (context-gated and task-incremental models); 0 when the
    /// model takes no task.
    public let taskCount: Int
    /// Whether every prediction needs a task (context-gated models: each task uses its own units).
    public let requiresTask: Bool
    private let backend: Backend
    private let lock = NSLock()

    private enum Backend {
        case mlp(MLP)
        case snn(SpikingNetwork, SpikingSpec)
    }

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
        guard ["mlp", "snn"].contains(spec.model.kind), !spec.protocol.isReward || spec.protocol.kind == .reversal else {
            throw Failure.unsupported("serving \(spec.model.kind) models is not supported; MLP and spiking network checkpoints are")
        }
        self.spec = spec
        var rng = RandomSource(seed: 0)
        let p = spec.protocol
        let taskIncremental = p.kind == .split && (p.scenario ?? .taskIncremental) == .taskIncremental
        requiresTask = spec.neuromodulation.context.gatingKeep != nil
        taskCount = requiresTask || taskIncremental ? max(p.tasks, 1) : 0
        if let snn = spec.model.snn, spec.model.kind == "snn" {
            let network = SpikingNetwork(spec: snn, sizes: spec.model.layers, rng: &rng)
            for (name, buffer) in zip(network.parameterNames, network.parameters) { try file.load(name, into: buffer) }
            for l in 0..<network.hiddenCount {
                try file.load("layers.\(l).beta", into: network.beta[l])
                try file.load("layers.\(l).threshold", into: network.theta[l])
            }
            backend = .snn(network, snn)
            parameterBytes = network.parameters.reduce(0) { $0 + $1.count * 4 }
        } else {
            let model = MLP(sizes: spec.model.layers, activation: spec.model.activation, rng: &rng)
            for l in 0..<model.layerCount {
                try file.load("layers.\(l).weight", into: model.weights[l])
                try file.load("layers.\(l).bias", into: model.biases[l])
            }
            if file.tensors["modulatory_gate.weight"] != nil {
                let gate = ModulatoryGate(inputs: spec.model.layers[0], units: spec.model.layers[1], biasInit: 0, rng: &rng)
                try file.load("modulatory_gate.weight", into: gate.weights)
                try file.load("modulatory_gate.bias", into: gate.bias)
                gate.recordsStatistics = false
                model.gate = gate
            }
            model.linearOutput = p.kind == .reversal
            backend = .mlp(model)
            parameterBytes = model.parameterCount * 4
        }
        inputWidth = spec.model.layers[0]
        let classes = spec.model.layers.last!
        let names = (file.metadata["labels"] ?? "").split(separator: "|").map(String.init)
        if p.kind == .split && p.scenario == .domainIncremental {
            labels = ["even class", "odd class"]
        } else {
            labels = names.count == classes ? names : (0..<classes).map { "class \($0)" }
        }
    }

    public var outputWidth: Int { spec.model.layers.last! }

    /// Class probabilities (or values, for value networks), one row per input.
    /// `task` selects a context-gated model's units and a task-incremental model's outputs.
    public func predict(_ inputs: [[Float]], task: Int? = nil) throws -> [[Float]] {
        try validate(inputs, task: task)
        lock.lock()
        defer { lock.unlock() }
        let k = outputWidth
        switch backend {
        case .mlp(let mlp):
            var m = Modulation()
            if let task {
                if requiresTask { m.unitMasks = ContextGating.unitMasks(spec: spec, task: task) }
                if spec.protocol.kind == .split && (spec.protocol.scenario ?? .taskIncremental) == .taskIncremental {
                    m.allowedOutputs = (0..<k).map { $0 / 2 == task }
                }
            }
            mlp.modulation = m
            let x = mlp.inputBuffer(batch: inputs.count)
            for (r, row) in inputs.enumerated() {
                row.withUnsafeBufferPointer { (x + r * inputWidth).update(from: $0.baseAddress!, count: inputWidth) }
            }
            let out = mlp.forward(batch: inputs.count)
            return (0..<inputs.count).map { r in Array(UnsafeBufferPointer(start: out + r * k, count: k)) }
        case .snn(let network, let snn):
            ServingEncoder.encode(inputs, snn: snn, seed: spec.seed, into: network)
            let p = network.probabilities(scores: network.forward(batch: inputs.count))
            return (0..<inputs.count).map { r in Array(p[(r * k)..<((r + 1) * k)]) }
        }
    }

    /// Throws ``Failure/badInput(_:)`` unless `inputs` is a non-empty batch of at most
    /// ``maxBatch`` finite rows of ``inputWidth`` values.
    public func validate(_ inputs: [[Float]], task: Int? = nil) throws {
        if requiresTask && task == nil {
            throw Failure.badInput("task is required: this context-gated model uses different units for each of its \(taskCount) tasks (0–\(taskCount - 1))")
        }
        if let task {
            guard taskCount > 0 else { throw Failure.badInput("task is not taken: this model has no task-specific units or outputs") }
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
