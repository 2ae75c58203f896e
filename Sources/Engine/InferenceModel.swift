import Foundation

/// A trained network loaded from a checkpoint for prediction. Thread-safe: calls are serialised
/// on the model (its work buffers are reused).
public final class InferenceModel: @unchecked Sendable {
    public let spec: ExperimentSpec
    public let inputWidth: Int
    public let labels: [String]
    public let parameterBytes: Int
    private let mlp: MLP
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
        guard spec.model.kind == "mlp", !spec.protocol.isReward || spec.protocol.kind == .reversal else {
            throw Failure.unsupported("serving \(spec.model.kind) models is not supported yet; MLP checkpoints are")
        }
        if spec.neuromodulation.context.gatingKeep != nil {
            throw Failure.unsupported("context-gated models need a task identity at prediction time, which predict does not take yet")
        }
        self.spec = spec
        var rng = RandomSource(seed: 0)
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
        model.linearOutput = spec.protocol.kind == .reversal
        mlp = model
        inputWidth = spec.model.layers[0]
        let classes = spec.model.layers.last!
        let names = (file.metadata["labels"] ?? "").split(separator: "|").map(String.init)
        if spec.protocol.kind == .split && spec.protocol.scenario == .domainIncremental {
            labels = ["even class", "odd class"]
        } else {
            labels = names.count == classes ? names : (0..<classes).map { "class \($0)" }
        }
        parameterBytes = model.parameterCount * 4
    }

    public var outputWidth: Int { mlp.sizes.last! }

    /// Class probabilities (or values, for value networks), one row per input.
    public func predict(_ inputs: [[Float]]) throws -> [[Float]] {
        try validate(inputs)
        lock.lock()
        defer { lock.unlock() }
        let x = mlp.inputBuffer(batch: inputs.count)
        for (r, row) in inputs.enumerated() {
            row.withUnsafeBufferPointer { (x + r * inputWidth).update(from: $0.baseAddress!, count: inputWidth) }
        }
        let out = mlp.forward(batch: inputs.count)
        let k = outputWidth
        return (0..<inputs.count).map { r in Array(UnsafeBufferPointer(start: out + r * k, count: k)) }
    }

    /// Throws ``Failure/badInput(_:)`` unless `inputs` is a non-empty batch of at most
    /// ``maxBatch`` finite rows of ``inputWidth`` values.
    public func validate(_ inputs: [[Float]]) throws {
        guard !inputs.isEmpty else { throw Failure.badInput("inputs is empty") }
        guard inputs.count <= Self.maxBatch else { throw Failure.badInput("at most \(Self.maxBatch) inputs per request, got \(inputs.count)") }
        for (i, row) in inputs.enumerated() {
            guard row.count == inputWidth else { throw Failure.badInput("inputs[\(i)] has \(row.count) values; the model takes \(inputWidth)") }
            guard row.allSatisfy(\.isFinite) else { throw Failure.badInput("inputs[\(i)] holds a value that is not finite") }
        }
    }
}
