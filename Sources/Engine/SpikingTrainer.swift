import Foundation
import CBLAS

/// Trains a ``SpikingNetwork`` on Fashion-MNIST (single protocol) by surrogate-gradient BPTT.
/// Deterministic for a seed: sample order from (seed, epoch), input spikes from (seed, step).
/// Neuromodulators: `learning_rate` scales updates, `threshold` shifts hidden thresholds,
/// `gain` scales hidden input currents.
public final class SpikingTrainer: TrainingSession {
    public let spec: ExperimentSpec
    public let train: Dataset
    public let test: Dataset
    public let network: SpikingNetwork
    let optimizer: ParameterOptimizer
    public let neuromodulators: NeuromodulatorSystem
    public private(set) var step = 0
    public var totalSteps: Int { spec.totalSteps }
    let trainCount: Int
    let testCount: Int

    private var epochLoss = 0.0, epochCorrect = 0, epochSeen = 0
    private var windowLoss = 0.0, windowCorrect = 0, windowSeen = 0
    private var windowSpikes: [Double] = []
    private var windowSynops = 0.0, windowBatches = 0
    private var runSpikes: [Double] = []
    private var runSynops = 0.0, runBatches = 0
    private var windowStarted = Date()
    private var finalTest: (loss: Double, accuracy: Double)?
    private var permutation: [Int32] = []
    private var permutationEpoch = -1
    private var trainingSeconds = 0.0
    private var samplesSeen = 0
    private var labels: [Int32] = []
    private var pixels: [Float] = []

    public static let checkpointFormat = "neuromod.snn/1"

    public init(spec: ExperimentSpec, train: Dataset, test: Dataset) {
        self.spec = spec
        self.train = train
        self.test = test
        trainCount = min(spec.trainCount, train.count)
        testCount = min(spec.data.testLimit ?? test.count, test.count)
        var rng = RandomSource(seed: spec.seed, stream: 1)
        network = SpikingNetwork(spec: spec.model.snn!, sizes: spec.model.layers, rng: &rng)
        optimizer = ParameterOptimizer(spec: spec.optimizer, shapes: network.parameters.map(\.count))
        neuromodulators = NeuromodulatorSystem(spec: spec.neuromodulation)
        labels = [Int32](repeating: 0, count: max(spec.optimizer.batchSize, 256))
    }

    var snn: SpikingSpec { spec.model.snn! }

    /// Encodes `count` samples (their pixels in `pixels`) as input spike events of the network.
    func encode(count: Int, stream: UInt64) {
        let T = snn.steps, nIn = spec.model.layers[0]
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
                // Bernoulli(pixel) every step; each 64-bit draw gives two 32-bit uniforms.
                var rng = RandomSource(seed: spec.seed, stream: stream)
                let scale: Float = 0x1p-32
                for _ in 0..<T {
                    for b in 0..<count {
                        starts.append(Int32(indices.count))
                        let row = px.baseAddress! + b * nIn
                        var j = 0
                        while j < nIn {
                            let r = rng.next()
                            if Float(UInt32(truncatingIfNeeded: r)) * scale < row[j] { indices.append(Int32(j)) }
                            if j + 1 < nIn && Float(UInt32(truncatingIfNeeded: r >> 32)) * scale < row[j + 1] { indices.append(Int32(j + 1)) }
                            j += 2
                        }
                    }
                }
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
            }
        }
        starts.append(Int32(indices.count))
        network.eventIndices = indices
        network.eventRowStart = starts
    }

    public func run(observer: TrainingObserver) throws -> TrainingOutcome {
        openblas_set_num_threads(1)
        windowStarted = Date()
        let batchSize = spec.optimizer.batchSize, nIn = spec.model.layers[0]
        if pixels.count < max(batchSize, 256) * nIn { pixels = [Float](repeating: 0, count: max(batchSize, 256) * nIn) }
        while step < totalSteps {
            if observer.sessionShouldStop(self) { return .stopped }
            let started = Date()
            let epoch = step / spec.stepsPerEpoch, b = step % spec.stepsPerEpoch
            if permutationEpoch != epoch {
                var rng = RandomSource(seed: spec.seed, stream: 1000 + UInt64(epoch))
                permutation = rng.permutation(trainCount)
                permutationEpoch = epoch
            }
            let begin = b * batchSize
            let count = min(batchSize, trainCount - begin)
            for r in 0..<count {
                let i = Int(permutation[begin + r])
                pixels.withUnsafeMutableBufferPointer {
                    ($0.baseAddress! + r * nIn).update(from: train.inputs.pointer + i * nIn, count: nIn)
                }
                labels[r] = train.labels[i]
            }
            encode(count: count, stream: 20_000 + UInt64(step))
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
            step += 1
            samplesSeen += count
            trainingSeconds += Date().timeIntervalSince(started)
            let spikes = network.spikesPerSample()
            let synops = network.synapticOperationsPerSample()
            if windowSpikes.count != spikes.count { windowSpikes = [Double](repeating: 0, count: spikes.count) }
            if runSpikes.count != spikes.count { runSpikes = [Double](repeating: 0, count: spikes.count) }
            for i in spikes.indices { windowSpikes[i] += spikes[i]; runSpikes[i] += spikes[i] }
            windowSynops += synops; runSynops += synops
            windowBatches += 1; runBatches += 1
            epochLoss += stats.loss; epochCorrect += stats.correct; epochSeen += count
            windowLoss += stats.loss; windowCorrect += stats.correct; windowSeen += count

            var metrics: [MetricSample] = []
            if detected { metrics.append(MetricSample(key: "context.boundary", step: step, value: 1)) }
            if step % spec.metricsEverySteps == 0 || step == totalSteps { metrics += windowMetrics() }
            if step % spec.stepsPerEpoch == 0 {
                let test = evaluate(epoch: epoch)
                finalTest = test
                metrics += SupervisedMetrics.epochEnd(step: step, epoch: epoch, loss: epochLoss, correct: epochCorrect,
                                                      seen: epochSeen, test: test)
                epochLoss = 0; epochCorrect = 0; epochSeen = 0
            }
            if !metrics.isEmpty { observer.session(self, emitted: metrics) }
            if step % spec.checkpointEverySteps == 0 || step == totalSteps || metrics.contains(where: { $0.key == selectionMetric }) {
                try observer.sessionReachedCheckpoint(self)
            }
        }
        return .completed
    }

    private func windowMetrics() -> [MetricSample] {
        var m = SupervisedMetrics.window(step: step, loss: windowLoss, correct: windowCorrect, seen: windowSeen,
                                         elapsed: Date().timeIntervalSince(windowStarted))
        m.append(MetricSample(key: "snn.synops_per_sample", step: step, value: windowSynops / Double(max(windowBatches, 1))))
        for (i, s) in windowSpikes.enumerated() {
            m.append(MetricSample(key: "snn.spikes_per_sample.layer\(i)", step: step, value: s / Double(max(windowBatches, 1))))
        }
        m += neuromodulators.drainWindow(step: step)
        windowLoss = 0; windowCorrect = 0; windowSeen = 0
        windowSpikes = windowSpikes.map { _ in 0 }; windowSynops = 0; windowBatches = 0
        windowStarted = Date()
        return m
    }

    /// Test loss and accuracy (its own spike-encoding stream per epoch), batches of 256.
    public func evaluate(epoch: Int) -> (loss: Double, accuracy: Double) {
        let nIn = spec.model.layers[0]
        if pixels.count < 256 * nIn { pixels = [Float](repeating: 0, count: 256 * nIn) }
        var loss = 0.0, correct = 0, begin = 0, batchIndex = 0
        while begin < testCount {
            let count = min(256, testCount - begin)
            pixels.withUnsafeMutableBufferPointer {
                $0.baseAddress!.update(from: test.inputs.pointer + begin * nIn, count: count * nIn)
            }
            for r in 0..<count { labels[r] = test.labels[begin + r] }
            encode(count: count, stream: 40_000_000 + UInt64(epoch) * 1000 + UInt64(batchIndex))
            let scores = network.forward(batch: count)
            let s = labels.withUnsafeBufferPointer { network.loss(scores: scores, labels: $0.baseAddress!) }
            loss += s.loss
            correct += s.correct
            begin += count
            batchIndex += 1
        }
        return (loss / Double(max(testCount, 1)), Double(correct) / Double(max(testCount, 1)))
    }

    /// Loads the first `count` images of `data` as the pixels to encode (tests).
    func pixelsForTesting(from data: Dataset, count: Int) {
        let nIn = spec.model.layers[0]
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

    public var selectionMetric: String? { "test.accuracy" }

    public func summary() -> JSONValue {
        var s: [String: JSONValue] = [
            "protocol": .string("single"),
            "model": .string("snn"),
            "steps": .number(Double(step)),
            "total_steps": .number(Double(totalSteps)),
            "train_samples_per_s": .number(trainingSeconds > 0 ? (Double(samplesSeen) / trainingSeconds).rounded() : 0),
            "spikes_per_sample": .numbers(runSpikes.map { $0 / Double(max(runBatches, 1)) }),
            "synops_per_sample": .number(runSynops / Double(max(runBatches, 1))),
            "time_constants": .array((0..<network.hiddenCount).map { Self.distribution(network.timeConstants(layer: $0)) }),
            "thresholds": .array((0..<network.hiddenCount).map { Self.distribution(network.theta[$0].array.map(Double.init)) }),
        ]
        if let f = finalTest {
            s["test_accuracy"] = .number(f.accuracy)
            s["test_loss"] = .number(f.loss)
        }
        if neuromodulators.isActive { s["neuromodulators"] = .object(neuromodulators.runMeans.mapValues { .number($0) }) }
        return .object(s)
    }

    // MARK: - Checkpoints

    public func checkpoint(extraMetadata: [String: String]) -> Data {
        var file = Safetensors.File()
        for (name, p) in zip(network.parameterNames, network.parameters) {
            file.tensors[name] = .init(shape: [p.count], values: p.array)
        }
        for l in 0..<network.weights.count {
            file.tensors["layers.\(l).weight"] = .init(shape: [network.sizes[l], network.sizes[l + 1]], values: network.weights[l].array)
        }
        if !snn.trainNeuronParameters {
            for l in 0..<network.hiddenCount {
                file.tensors["layers.\(l).beta"] = .init(shape: [network.beta[l].count], values: network.beta[l].array)
                file.tensors["layers.\(l).threshold"] = .init(shape: [network.theta[l].count], values: network.theta[l].array)
            }
        }
        for (k, name) in network.parameterNames.enumerated() where optimizer.spec.kind == .adam {
            file.tensors["optimizer.\(name).m"] = .init(shape: [optimizer.first[k].count], values: optimizer.first[k].array)
            file.tensors["optimizer.\(name).v"] = .init(shape: [optimizer.second[k].count], values: optimizer.second[k].array)
        }
        var meta = CheckpointHeader.metadata(format: Self.checkpointFormat, session: self, extra: extraMetadata)
        meta["layers"] = spec.model.layers.map(String.init).joined(separator: ",")
        meta["labels"] = train.labelNames.joined(separator: "|")
        meta["optimizer_t"] = String(optimizer.t)
        meta["running_sums"] = JSONValue.numbers([epochLoss, Double(epochCorrect), Double(epochSeen), windowLoss, Double(windowCorrect),
                                                  Double(windowSeen), windowSynops, Double(windowBatches), runSynops, Double(runBatches),
                                                  Double(samplesSeen), trainingSeconds]).serializedString
        meta["spike_sums"] = JSONValue.array([.numbers(windowSpikes), .numbers(runSpikes)]).serializedString
        if let f = finalTest { meta["final_test"] = JSONValue.numbers([f.loss, f.accuracy]).serializedString }
        meta["neuromodulators"] = neuromodulators.saveState()
        file.metadata = meta
        return Safetensors.encode(file)
    }

    public func restore(from data: Data) throws {
        let (file, s) = try CheckpointHeader.open(data, format: Self.checkpointFormat, session: self)
        for (name, p) in zip(network.parameterNames, network.parameters) { try file.load(name, into: p) }
        for l in 0..<network.hiddenCount {
            try file.load("layers.\(l).beta", into: network.beta[l])
            try file.load("layers.\(l).threshold", into: network.theta[l])
        }
        for (k, name) in network.parameterNames.enumerated() where optimizer.spec.kind == .adam {
            try file.load("optimizer.\(name).m", into: optimizer.first[k])
            try file.load("optimizer.\(name).v", into: optimizer.second[k])
        }
        func numbers(_ key: String) throws -> [Double] {
            guard case .array(let a)? = JSONValue.parse(Data(try file.meta(key).utf8)) else { throw CheckpointError("checkpoint metadata \(key) is malformed") }
            return a.compactMap(\.numberValue)
        }
        guard let t = Int(try file.meta("optimizer_t")) else { throw CheckpointError("checkpoint metadata is malformed") }
        let r = try numbers("running_sums")
        guard r.count == 12, case .array(let spikeSums)? = JSONValue.parse(Data(try file.meta("spike_sums").utf8)), spikeSums.count == 2 else {
            throw CheckpointError("checkpoint metadata running_sums is malformed")
        }
        step = s
        optimizer.t = t
        epochLoss = r[0]; epochCorrect = Int(r[1]); epochSeen = Int(r[2]); windowLoss = r[3]; windowCorrect = Int(r[4])
        windowSeen = Int(r[5]); windowSynops = r[6]; windowBatches = Int(r[7]); runSynops = r[8]; runBatches = Int(r[9])
        samplesSeen = Int(r[10]); trainingSeconds = r[11]
        windowSpikes = (spikeSums[0].arrayValue ?? []).compactMap(\.numberValue)
        runSpikes = (spikeSums[1].arrayValue ?? []).compactMap(\.numberValue)
        if file.metadata["final_test"] != nil { let f = try numbers("final_test"); finalTest = (f[0], f[1]) }
        try neuromodulators.restoreState(try file.meta("neuromodulators"))
        permutationEpoch = -1
    }
}
