import Foundation

/// The neuromodulatory effects a run applied, step by step: the learning-rate factor (global and
/// per layer), gain, threshold shift, softmax temperature and consolidation strength. Recorded by
/// modulated runs and saved in their checkpoints (tensors `effects.*`, F32), so a yoked control
/// can replay the same trace — shuffled in time, or as its mean — without the contingency between
/// the network's state and its modulation (studies' `controls: ["yoked"]`).
public struct EffectTrace: Sendable, Equatable {
    public private(set) var learningRate: [Float] = []
    public private(set) var gain: [Float] = []
    public private(set) var threshold: [Float] = []
    public private(set) var temperature: [Float] = []
    public private(set) var consolidation: [Float] = []
    /// Per weight layer with its own learning-rate channel.
    public private(set) var layerLearningRate: [Int: [Float]] = [:]

    public init() {}

    public var count: Int { learningRate.count }

    /// Appends step s's effects as they stand once the step observed its batch: its update used
    /// the learning rates and consolidation strength, and step s + 1's forward pass (and any
    /// evaluation in between) uses the gain, threshold and temperature.
    mutating func append(_ e: ModulatorEffects) {
        learningRate.append(Float(e.learningRate))
        consolidation.append(Float(e.consolidation))
        gain.append(Float(e.gain))
        threshold.append(Float(e.threshold))
        temperature.append(Float(e.temperature))
        let n = count
        for (l, v) in e.layerLearningRate {
            layerLearningRate[l, default: [Float](repeating: 1, count: n - 1)].append(Float(v))
        }
        for l in Array(layerLearningRate.keys) where layerLearningRate[l]!.count < n { layerLearningRate[l]!.append(1) }
    }

    /// The effects of step `step` (the last step's beyond the end).
    public func effects(at step: Int) -> ModulatorEffects {
        guard count > 0 else { return ModulatorEffects() }
        let s = min(max(step, 0), count - 1)
        var e = ModulatorEffects()
        e.learningRate = Double(learningRate[s])
        e.gain = Double(gain[s])
        e.threshold = Double(threshold[s])
        e.temperature = Double(temperature[s])
        e.consolidation = Double(consolidation[s])
        for (l, v) in layerLearningRate { e.layerLearningRate[l] = Double(v[s]) }
        return e
    }

    /// The same steps in a seeded random order (all effects of a step move together).
    public func shuffled(seed: UInt64) -> EffectTrace {
        var rng = RandomSource(seed: seed, stream: 31_000)
        let order = rng.permutation(count).map(Int.init)
        var t = self
        t.learningRate = order.map { learningRate[$0] }
        t.gain = order.map { gain[$0] }
        t.threshold = order.map { threshold[$0] }
        t.temperature = order.map { temperature[$0] }
        t.consolidation = order.map { consolidation[$0] }
        t.layerLearningRate = layerLearningRate.mapValues { v in order.map { v[$0] } }
        return t
    }

    /// Every step at the trace's mean of each effect.
    public func constantMean() -> EffectTrace {
        func mean(_ v: [Float]) -> [Float] {
            let m = Float(v.reduce(0.0) { $0 + Double($1) } / Double(max(v.count, 1)))
            return [Float](repeating: m, count: v.count)
        }
        var t = self
        t.learningRate = mean(learningRate)
        t.gain = mean(gain)
        t.threshold = mean(threshold)
        t.temperature = mean(temperature)
        t.consolidation = mean(consolidation)
        t.layerLearningRate = layerLearningRate.mapValues(mean)
        return t
    }

    /// Per effect: mean over the steps (for summaries and the API).
    public var means: [String: Double] {
        func mean(_ v: [Float]) -> Double { v.reduce(0.0) { $0 + Double($1) } / Double(max(v.count, 1)) }
        var m = ["learning_rate": mean(learningRate), "gain": mean(gain), "threshold": mean(threshold),
                 "temperature": mean(temperature), "consolidation": mean(consolidation)]
        for (l, v) in layerLearningRate { m["layer_learning_rate.\(l)"] = mean(v) }
        return m
    }

    // MARK: - Checkpoint tensors

    private var named: [(String, [Float])] {
        [("learning_rate", learningRate), ("gain", gain), ("threshold", threshold), ("temperature", temperature),
         ("consolidation", consolidation)] + layerLearningRate.sorted { $0.key < $1.key }.map { ("layer_learning_rate.\($0.key)", $0.value) }
    }

    /// Writes `effects.<name>` tensors (nothing for an empty trace).
    public func save(to w: inout CheckpointWriter) {
        guard count > 0 else { return }
        for (name, values) in named { w.tensor("effects." + name, values: values) }
    }

    /// The trace in a checkpoint's tensors (empty when it has none).
    public init(file: Safetensors.File) throws {
        guard let lr = file.tensors["effects.learning_rate"]?.values else { return }
        func load(_ name: String) throws -> [Float] {
            guard let v = file.tensors["effects." + name]?.values, v.count == lr.count else {
                throw CheckpointError("checkpoint tensor effects.\(name) is missing or has the wrong size")
            }
            return v
        }
        learningRate = lr
        gain = try load("gain")
        threshold = try load("threshold")
        temperature = try load("temperature")
        consolidation = try load("consolidation")
        for name in file.tensors.keys where name.hasPrefix("effects.layer_learning_rate.") {
            guard let l = Int(name.dropFirst("effects.layer_learning_rate.".count)) else { continue }
            layerLearningRate[l] = try load("layer_learning_rate.\(l)")
        }
    }

    /// The trace recorded in a checkpoint's bytes.
    public init(checkpoint data: Data) throws {
        try self.init(file: try Safetensors.decode(data))
    }
}
