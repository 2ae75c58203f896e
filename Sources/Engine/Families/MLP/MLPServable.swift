import Foundation

/// The MLP family's forward pass for serving: a multi-layer perceptron loaded from a checkpoint,
/// with the task-dependent parts of its training protocol — a context-gated model's unit masks,
/// a task-incremental model's output group, a permuted-protocol task's pixel permutation — and
/// the reversal task's value outputs.
final class MLPServable: ServableNetwork {
    let spec: ExperimentSpec
    let model: MLP
    let taskCount: Int
    let requiresTask: Bool
    var parameterBytes: Int { model.parameterCount * 4 + (model.gate.map { ($0.weights.count + $0.bias.count) * 4 } ?? 0) }
    private var permutations: [Int: [Int32]] = [:]

    init(spec: ExperimentSpec, file: Safetensors.File) throws {
        guard spec.neuromodulation.context.inference == nil else {
            throw InferenceModel.Failure.unsupported("serving models that infer their context is not supported yet (train and score them through runs)")
        }
        self.spec = spec
        var rng = RandomSource(seed: 0)
        model = MLP(sizes: spec.model.layers, activation: spec.model.activation, rng: &rng)
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
        let p = spec.protocol
        model.linearOutput = p.kind == .reversal
        requiresTask = spec.neuromodulation.context.gatingKeep != nil
        taskCount = requiresTask || Self.isTaskIncremental(spec) || p.kind == .permuted ? max(p.tasks, 1) : 0
    }

    private static func isTaskIncremental(_ spec: ExperimentSpec) -> Bool {
        spec.protocol.kind == .split && (spec.protocol.scenario ?? .taskIncremental) == .taskIncremental
    }

    func forward(_ inputs: [[Float]], task: Int?) -> [[Float]] {
        let k = spec.model.layers.last!, width = spec.model.layers[0]
        var m = Modulation()
        var permutation: [Int32]?
        if let task {
            if requiresTask { m.unitMasks = ContextGating.unitMasks(spec: spec, task: task) }
            if Self.isTaskIncremental(spec) { m.allowedOutputs = (0..<k).map { $0 / 2 == task } }
            if spec.protocol.kind == .permuted && task > 0 {
                if permutations[task] == nil { permutations[task] = TaskSequence.permutation(spec: spec, task: task, features: width) }
                permutation = permutations[task]
            }
        }
        model.modulation = m
        let x = model.inputBuffer(batch: inputs.count)
        for (r, row) in inputs.enumerated() {
            let dst = x + r * width
            if let permutation {
                // Training fed task t's images as x'[j] = x[perm[j]]; serving feeds them the same way.
                row.withUnsafeBufferPointer { src in for j in 0..<width { dst[j] = src[Int(permutation[j])] } }
            } else {
                row.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: width) }
            }
        }
        let out = model.forward(batch: inputs.count)
        return (0..<inputs.count).map { r in Array(UnsafeBufferPointer(start: out + r * k, count: k)) }
    }

    /// The descriptive metadata a reader outside Neuromod needs to rebuild the network
    /// (`Tests/interop/checkpoint_numpy.py` reads these).
    static func describe(_ model: MLP, labels: [String], into w: inout CheckpointWriter) {
        w.describe("layers", model.sizes.map(String.init).joined(separator: ","))
        w.describe("activation", model.activation.rawValue)
        w.describe("output", model.linearOutput ? "linear" : "softmax")
        w.describe("labels", labels.joined(separator: "|"))
    }
}
