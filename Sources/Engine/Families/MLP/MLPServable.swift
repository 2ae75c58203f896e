import Foundation

/// The MLP family's forward pass for serving: a multi-layer perceptron loaded from a checkpoint,
/// with the task-dependent parts of its training protocol — a context-gated model's unit masks,
/// a task-incremental model's output group, a permuted-protocol task's pixel permutation — and
/// the reversal task's value outputs.
final class MLPServable: ReadoutServable {
    let spec: ExperimentSpec
    let model: MLP
    let taskCount: Int
    let requiresTask: Bool
    /// A context-inference model's contexts (their output groups, the context of each task).
    let contexts: ContextInference?
    /// A memory-selection model's associative context memory.
    let contextMemory: ContextMemory?
    var parameterBytes: Int {
        model.parameterCount * 4 + (model.gate.map { ($0.weights.count + $0.bias.count) * 4 } ?? 0) + (contextMemory.map { $0.readout.count * 4 } ?? 0)
    }
    private var permutations: [Int: [Int32]] = [:]

    init(spec: ExperimentSpec, file: Safetensors.File) throws {
        if spec.neuromodulation.context.inference != nil {
            guard let text = file.metadata["state.contexts"],
                  let state = try? JSONDecoder().decode(ContextInference.self, from: Data(text.utf8)) else {
                throw InferenceModel.Failure.unsupported("the checkpoint of a context-inference model lacks its contexts")
            }
            contexts = state
        } else {
            contexts = nil
        }
        if let contexts, contexts.selection == .memory {
            let memory = ContextMemory(inputs: spec.model.layers[0], units: spec.neuromodulation.context.memoryUnits ?? ContextMemory.defaultUnits, contexts: contexts.maxContexts, classes: spec.model.layers.last!, seed: spec.seed)
            try file.load("context_memory.readout", into: memory.readout)
            contextMemory = memory
        } else {
            contextMemory = nil
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
        requiresTask = spec.neuromodulation.context.gatingKeep != nil && contexts == nil
        taskCount = requiresTask || contexts != nil || Self.isTaskIncremental(spec) || p.kind == .permuted ? max(p.tasks, 1) : 0
    }

    private static func isTaskIncremental(_ spec: ExperimentSpec) -> Bool {
        spec.protocol.kind == .split && (spec.protocol.scenario ?? .taskIncremental) == .taskIncremental
    }

    func forward(_ inputs: [[Float]], task: Int?) -> [[Float]] {
        if let contexts { return forwardInferringContext(inputs, contexts: contexts, task: task) }
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

    var readout: (weightTensor: String, biasTensor: String, weights: ReadoutWeights)? {
        guard contexts == nil, taskCount == 0, !model.linearOutput else { return nil }
        let l = model.layerCount - 1
        return ("layers.\(l).weight", "layers.\(l).bias",
                ReadoutWeights(features: model.sizes[l], classes: model.sizes[l + 1],
                               weights: Array(UnsafeBufferPointer(start: model.weights[l].pointer, count: model.weights[l].count)),
                               bias: Array(UnsafeBufferPointer(start: model.biases[l].pointer, count: model.biases[l].count))))
    }

    func features(_ inputs: [[Float]]) -> [Float] {
        _ = forward(inputs, task: nil)
        let l = model.layerCount - 1
        return Array(UnsafeBufferPointer(start: model.hiddenOutputs(layer: l), count: inputs.count * model.sizes[l]))
    }

    /// Each input scored by the context the run's selection chooses, as the run scored its test
    /// images — the one its context memory recalls (`memory`), else the one whose head is least
    /// uncertain (normalised entropy over its output group) — or, given a task, by the context
    /// that task was trained in.
    private func forwardInferringContext(_ inputs: [[Float]], contexts: ContextInference, task: Int?) -> [[Float]] {
        let k = spec.model.layers.last!, width = spec.model.layers[0]
        let pool = task.flatMap { contexts.contextOfTask[$0] }.map { [$0] }
            ?? (0..<contexts.used).filter { contexts.groups[$0].contains(true) }
        var best = [Double](repeating: .infinity, count: inputs.count)
        var out = [[Float]](repeating: [Float](repeating: 1 / Float(k), count: k), count: inputs.count)
        var recalled: [Int]?
        if let contextMemory, pool.count > 1 {
            let flat = inputs.flatMap { $0 }
            recalled = flat.withUnsafeBufferPointer { contextMemory.recall($0.baseAddress!, count: inputs.count, pool: pool, groups: contexts.groups) }
        }
        for c in pool {
            if let recalled, !recalled.contains(c) { continue }
            var m = Modulation()
            m.unitMasks = ContextGating.unitMasks(spec: spec, task: c)
            m.allowedOutputs = contexts.groups[c]
            model.modulation = m
            let x = model.inputBuffer(batch: inputs.count)
            for (r, row) in inputs.enumerated() { row.withUnsafeBufferPointer { (x + r * width).update(from: $0.baseAddress!, count: width) } }
            let p = model.forward(batch: inputs.count)
            for r in 0..<inputs.count {
                if let recalled, recalled[r] != c { continue }
                let u = pool.count == 1 || recalled != nil ? 0 : ContextInference.uncertainty(p + r * k, group: contexts.groups[c])
                if u < best[r] {
                    best[r] = u
                    out[r] = Array(UnsafeBufferPointer(start: p + r * k, count: k))
                }
            }
        }
        return out
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
