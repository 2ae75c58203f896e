import Foundation
import Support
import CBLAS

/// The spiking family's training: a ``SpikingNetwork`` on Fashion-MNIST (single protocol) by surrogate-gradient BPTT.
/// Deterministic for a seed: sample order from (seed, epoch), input spikes from (seed, step).
/// Neuromodulators: `learning_rate` scales updates, `threshold` shifts hidden thresholds,
/// `gain` scales hidden input currents.
public final class SpikingFamily: SupervisedFamily {
    public static let kind = "snn"
    public let spec: ExperimentSpec
    public let train: Dataset
    public let test: Dataset
    public let network: SpikingNetwork
    let optimizer: ParameterOptimizer
    public let neuromodulators: NeuromodulatorSystem
    public let schedule: TrainingSchedule
    /// The training images (all of `train_limit`, less the validation hold-out) and the held-out ones.
    let task: TrainingTask
    var trainCount: Int { task.trainIndices.count }

    private var scores: HeldOutScores
    private var permutation: [Int32] = []
    private var permutationEpoch = -1
    private var labels: [Int32] = []
    private var pixels: [Float] = []

    public init(spec: ExperimentSpec, train: Dataset, test: Dataset) {
        self.spec = spec
        self.train = train
        self.test = test
        task = TaskSequence.make(spec: spec, train: train, test: test)[0]
        scores = HeldOutScores(validates: spec.data.validates)
        var rng = RandomSource(seed: spec.seed, stream: 1)
        network = SpikingNetwork(spec: spec.model.snn!, sizes: spec.model.layers, rng: &rng)
        optimizer = ParameterOptimizer(spec: spec.optimizer, shapes: network.parameters.map(\.count))
        neuromodulators = NeuromodulatorSystem(spec: spec.neuromodulation)
        labels = [Int32](repeating: 0, count: max(spec.optimizer.batchSize, 256))
        let b = spec.optimizer.batchSize
        schedule = TrainingSchedule(stepsPerEpoch: [(task.trainIndices.count + b - 1) / b], epochsPerTask: spec.protocol.epochs)
    }

    public var replayableModulators: NeuromodulatorSystem? { neuromodulators }

    /// Checkpoints are ranked on validation when the run holds one out, else on test.
    public var selectionMetric: String? { spec.supervisedSelectionMetric }

    var snn: SpikingSpec { spec.model.snn! }
    /// Floats per sample: the input width, or T × F for sequence input.
    var sampleWidth: Int { snn.encoding == .sequence ? spec.model.layers[0] * snn.steps : spec.model.layers[0] }

    /// Encodes `count` samples (their values in `pixels`, `sampleWidth` each) as input spike events.
    func encode(count: Int, stream: UInt64) {
        if snn.encoding == .rate {
            // Bernoulli(pixel) every step, from eight generator lanes at once.
            let state = RandomSource(seed: spec.seed, stream: stream).words
            pixels.withUnsafeBufferPointer { network.encodeRate($0.baseAddress!, count: count, state: state) }
            return
        }
        let T = snn.steps, nIn = spec.model.layers[0], width = sampleWidth
        network.prepare(batch: count)
        var indices = network.eventIndices
        var starts = network.eventRowStart
        network.eventIndices = []      // unique owners: no copy-on-write below
        network.eventRowStart = []
        indices.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        starts.reserveCapacity(T * count + 1)
        pixels.withUnsafeBufferPointer { px in
            switch snn.encoding {
            case .rate:
                preconditionFailure("rate codes are written by the network")
            case .latency:
                // One spike per pixel above the threshold, at a step that is earlier the brighter it is.
                let thr = Float(snn.latencyThreshold)
                let span = max(1 - thr, 1e-6)
                var when = [Int](repeating: -1, count: count * nIn)
                for i in 0..<(count * nIn) where px[i] >= thr && px[i] > 0 {
                    when[i] = min(T - 1, max(0, Int((((1 - px[i]) / span) * Float(T - 1)).rounded())))
                }
                for t in 0..<T {
                    for b in 0..<count {
                        starts.append(Int32(indices.count))
                        for j in 0..<nIn where when[b * nIn + j] == t { indices.append(Int32(j)) }
                    }
                }
            case .sequence:
                var rng = RandomSource(seed: spec.seed, stream: stream)
                SequenceCode.encode(px.baseAddress!, count: count, width: width, steps: T, channels: nIn,
                                    indices: &indices, starts: &starts) { rng.unitFloat() }
            }
        }
        starts.append(Int32(indices.count))
        network.eventIndices = indices
        network.eventRowStart = starts
    }

    public func willTrain() {
        openblas_set_num_threads(1)
        let need = max(spec.optimizer.batchSize, 256) * sampleWidth
        if pixels.count < need { pixels = [Float](repeating: 0, count: need) }
    }

    public func trainStep(_ step: Int, at position: TrainingSchedule.Position, sums: inout MetricSums) -> StepReport {
        let batchSize = spec.optimizer.batchSize, nIn = sampleWidth
        if permutationEpoch != position.epoch {
            var rng = RandomSource(seed: spec.seed, stream: 1000 + UInt64(position.epoch))
            permutation = rng.permutation(trainCount)
            permutationEpoch = position.epoch
        }
        let begin = position.batch * batchSize
        let count = min(batchSize, trainCount - begin)
        for r in 0..<count {
            let i = Int(task.trainIndices[Int(permutation[begin + r])])
            pixels.withUnsafeMutableBufferPointer {
                ($0.baseAddress! + r * nIn).update(from: train.inputs.pointer + i * nIn, count: nIn)
            }
            labels[r] = train.labels[i]
        }
        encode(count: count, stream: 20_000 + UInt64(step))
        neuromodulators.beginStep(step)
        let effects = neuromodulators.effects
        network.thresholdShift = Float(effects.threshold)
        network.inputGain = Float(effects.gain)
        let scores = network.forward(batch: count)
        let stats = labels.withUnsafeBufferPointer { network.loss(scores: scores, labels: $0.baseAddress!) }
        var detected = false
        if neuromodulators.isActive || spec.neuromodulation.context.boundaries != "protocol" {
            detected = neuromodulators.observe(loss: stats.loss / Double(count), entropy: stats.entropy / Double(count))
        }
        network.backward()
        optimizer.step(parameters: network.parameters, gradients: network.gradients,
                       lrScale: Float(neuromodulators.effects.learningRate))
        network.clampNeuronParameters()
        for (i, s) in network.spikesPerSample().enumerated() { sums.add("spikes.layer\(i)", s) }
        sums.add("synops", network.synapticOperationsPerSample())
        sums.add("batches", 1)
        neuromodulators.endStep()
        SupervisedMetrics.add(&sums, loss: stats.loss, correct: stats.correct, seen: count)
        return StepReport(samples: count, boundaryDetected: detected)
    }

    public func windowMetrics(step: Int, sums: MetricSums.Span, elapsed: Double) -> [MetricSample] {
        var m = SupervisedMetrics.window(step: step, sums, elapsed: elapsed)
        m.append(MetricSample(key: "snn.synops_per_sample", step: step, value: sums.ratio("synops", per: "batches")))
        for i in 0..<network.spikingLayerCount {
            m.append(MetricSample(key: "snn.spikes_per_sample.layer\(i)", step: step, value: sums.ratio("spikes.layer\(i)", per: "batches")))
        }
        m += neuromodulators.drainWindow(step: step)
        return m
    }

    public func epochEnded(_ position: TrainingSchedule.Position, step: Int, sums: MetricSums.Span) -> [MetricSample] {
        scores.epochEnded(step: step, epoch: position.epoch, sums: sums) { evaluate(epoch: position.epoch, on: $0) }
    }

    /// Test (or validation) loss and accuracy, each split with its own spike-encoding stream per
    /// epoch, batches of 256.
    public func evaluate(epoch: Int, on split: EvaluationSplit = .test) -> Evaluation {
        let nIn = sampleWidth
        if pixels.count < 256 * nIn { pixels = [Float](repeating: 0, count: 256 * nIn) }
        let (indices, data) = split == .test ? (task.testIndices, test) : (task.validationIndices, train)
        let base: UInt64 = split == .test ? 40_000_000 : 60_000_000
        var loss = 0.0, correct = 0, begin = 0, batchIndex = 0
        while begin < indices.count {
            let count = min(256, indices.count - begin)
            pixels.withUnsafeMutableBufferPointer { px in
                for r in 0..<count {
                    let i = Int(indices[begin + r])
                    (px.baseAddress! + r * nIn).update(from: data.inputs.pointer + i * nIn, count: nIn)
                    labels[r] = data.labels[i]
                }
            }
            encode(count: count, stream: base + UInt64(epoch) * 1000 + UInt64(batchIndex))
            let scores = network.forward(batch: count)
            let s = labels.withUnsafeBufferPointer { network.loss(scores: scores, labels: $0.baseAddress!) }
            loss += s.loss
            correct += s.correct
            begin += count
            batchIndex += 1
        }
        return Evaluation(loss: loss / Double(max(indices.count, 1)), accuracy: Double(correct) / Double(max(indices.count, 1)))
    }

    /// Loads the first `count` images of `data` as the pixels to encode (tests).
    func pixelsForTesting(from data: Dataset, count: Int) {
        let nIn = sampleWidth
        pixels = Array(UnsafeBufferPointer(start: data.inputs.pointer, count: count * nIn))
    }

    // MARK: - Summary

    static func distribution(_ values: [Double]) -> JSONValue {
        let v = values.filter(\.isFinite).sorted()
        guard !v.isEmpty else { return .null }
        let mean = v.reduce(0, +) / Double(v.count)
        let sd = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
        func q(_ p: Double) -> Double { v[min(v.count - 1, Int(p * Double(v.count - 1)))] }
        return .object(["mean": .number(mean), "sd": .number(sd), "min": .number(v.first!), "p10": .number(q(0.1)),
                        "median": .number(q(0.5)), "p90": .number(q(0.9)), "max": .number(v.last!)])
    }

    public func summarize(into s: inout [String: JSONValue], sums: MetricSums) {
        let run = sums.run
        s["protocol"] = .string("single")
        s["model"] = .string("snn")
        s["spikes_per_sample"] = .numbers((0..<network.spikingLayerCount).map { run.ratio("spikes.layer\($0)", per: "batches") })
        s["synops_per_sample"] = .number(run.ratio("synops", per: "batches"))
        s["time_constants"] = .array((0..<network.hiddenCount).map { l in
            // With the quantiles, the share of neurons at the upper bound of τ (β at its clamp).
            guard case .object(var d) = Self.distribution(network.timeConstants(layer: l)) else { return .null }
            let top = snn.betaBounds.upperBound
            d["at_upper_bound"] = .number(Double(network.beta[l].array.filter { $0 >= top }.count) / Double(max(network.beta[l].count, 1)))
            return .object(d)
        })
        s["thresholds"] = .array((0..<network.hiddenCount).map { Self.distribution(network.theta[$0].array.map(Double.init)) })
        scores.summarize(into: &s)
        if neuromodulators.isActive { s["neuromodulators"] = .object(neuromodulators.runMeans.mapValues { .number($0) }) }
    }

    // MARK: - Checkpoints

    public func save(to w: inout CheckpointWriter) {
        w.describe("layers", spec.model.layers.map(String.init).joined(separator: ","))
        w.describe("labels", train.labelNames.joined(separator: "|"))
        for (name, p) in zip(network.parameterNames, network.parameters) { w.tensor(name, p) }
        for l in 0..<network.weights.count {
            w.tensor("layers.\(l).weight", network.weights[l], shape: [network.sizes[l], network.sizes[l + 1]])
        }
        if !snn.trainNeuronParameters {
            for l in 0..<network.hiddenCount {
                w.tensor("layers.\(l).beta", network.beta[l])
                w.tensor("layers.\(l).threshold", network.theta[l])
            }
        }
        for (k, name) in network.parameterNames.enumerated() where optimizer.spec.kind == .adam {
            w.tensor("optimizer.\(name).m", optimizer.first[k])
            w.tensor("optimizer.\(name).v", optimizer.second[k])
        }
        w.state("optimizer.t", optimizer.t)
        scores.save(to: &w)
        w.state("neuromodulators", neuromodulators.state)
        neuromodulators.saveTrace(to: &w)
    }

    public func load(from r: CheckpointReader) throws {
        for (name, p) in zip(network.parameterNames, network.parameters) { try r.tensor(name, into: p) }
        for l in 0..<network.hiddenCount {
            try r.tensor("layers.\(l).beta", into: network.beta[l])
            try r.tensor("layers.\(l).threshold", into: network.theta[l])
        }
        for (k, name) in network.parameterNames.enumerated() where optimizer.spec.kind == .adam {
            try r.tensor("optimizer.\(name).m", into: optimizer.first[k])
            try r.tensor("optimizer.\(name).v", into: optimizer.second[k])
        }
        optimizer.t = try r.state("optimizer.t")
        try scores.load(from: r)
        try neuromodulators.restore(try r.state("neuromodulators"))
        try neuromodulators.loadTrace(from: r)
        permutationEpoch = -1
    }
}

extension SpikingFamily {
    /// Spiking networks of LIF/ALIF neurons (`model.kind` `snn`).
    public static let registration = supervisedRegistration(accepts: { $0.model.kind == "snn" }, makeServable: { try SpikingServable(spec: $0, file: $1) })
}
