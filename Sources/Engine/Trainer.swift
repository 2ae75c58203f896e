import Foundation
import CBLAS

/// Trains an MLP on a supervised protocol (single task, split or permuted task sequences),
/// deterministically for a given seed: weights come from the seed, each epoch's sample order from
/// (seed, task, epoch), so a run resumed from a checkpoint continues bit for bit.
///
/// Each step: forward (with the current gain/threshold/temperature and the task's gates) →
/// modulators observe loss and entropy → backward and update with the modulated learning rate
/// and consolidation strength.
public final class Trainer: TrainingSession {
    public let spec: ExperimentSpec
    public let train: Dataset
    public let test: Dataset
    public let tasks: [TrainingTask]
    public let model: MLP
    public let optimizer: Optimizer
    public let consolidator: Consolidator
    public let neuromodulators: NeuromodulatorSystem
    /// Per task, per hidden layer: the context gate (nil without gating).
    let gates: [[FloatBuffer?]]
    /// Steps per epoch and per task, and the step at which each task starts.
    let batchesPerEpoch: [Int]
    let taskStart: [Int]
    public let totalSteps: Int
    /// Steps completed (global, across tasks and epochs).
    public private(set) var step = 0

    // Running sums, saved in checkpoints so resumed metrics are identical.
    private var epochLoss = 0.0, epochCorrect = 0, epochSeen = 0
    private var windowLoss = 0.0, windowCorrect = 0, windowSeen = 0
    private var windowStarted = Date()
    /// Accuracy matrix rows (one per finished task) and the untrained network's accuracy per task.
    public private(set) var accuracyMatrix: [[Double]] = []
    public private(set) var initialAccuracy: [Double] = []
    private var finalTest: (loss: Double, accuracy: Double)?
    private var permutation: [Int32] = []
    private var permutationKey = -1
    private var labelBuffer: [Int32] = []
    private var trainingSeconds = 0.0
    private var samplesSeen = 0

    /// Checkpoint format identifier stored in the safetensors metadata.
    public static let checkpointFormat = "neuromod.mlp/1"

    public init(spec: ExperimentSpec, train: Dataset, test: Dataset) {
        self.spec = spec
        self.train = train
        self.test = test
        tasks = TaskSequence.make(spec: spec, train: train, test: test)
        var rng = RandomSource(seed: spec.seed, stream: 1)
        model = MLP(sizes: spec.model.layers, activation: spec.model.activation, rng: &rng)
        optimizer = Optimizer(spec: spec.optimizer, sizes: spec.model.layers)
        if let g = spec.neuromodulation.modulatoryGate {
            var gateRNG = RandomSource(seed: spec.seed, stream: 8000)
            model.gate = ModulatoryGate(inputs: spec.model.layers[0], units: spec.model.layers[1], biasInit: Float(g.biasInit), rng: &gateRNG)
        }
        consolidator = Consolidator(spec: spec.consolidation, sizes: spec.model.layers)
        neuromodulators = NeuromodulatorSystem(spec: spec.neuromodulation)
        let b = spec.optimizer.batchSize
        let epochs = spec.protocol.kind == .single ? spec.protocol.epochs : spec.protocol.epochsPerTask
        batchesPerEpoch = tasks.map { ($0.trainIndices.count + b - 1) / b }
        var starts: [Int] = []
        var total = 0
        for t in tasks.indices {
            starts.append(total)
            total += batchesPerEpoch[t] * epochs
        }
        taskStart = starts
        totalSteps = total
        // Context-dependent gating: each task keeps a fixed random fraction of each hidden layer.
        gates = tasks.indices.map { ContextGating.unitMasks(spec: spec, task: $0) }
        labelBuffer = [Int32](repeating: 0, count: b)
    }

    var isContinual: Bool { spec.protocol.isContinual }
    var epochsPerTask: Int { spec.protocol.kind == .single ? spec.protocol.epochs : spec.protocol.epochsPerTask }

    /// (task, epoch within the task, batch within the epoch) of a global step.
    func locate(_ s: Int) -> (task: Int, epoch: Int, batch: Int) {
        var t = tasks.count - 1
        while t > 0 && taskStart[t] > s { t -= 1 }
        let local = s - taskStart[t]
        return (t, local / batchesPerEpoch[t], local % batchesPerEpoch[t])
    }

    /// Runs until done, or until the observer asks to stop (then the state is that of `step`).
    public func run(observer: TrainingObserver) throws -> TrainingOutcome {
        openblas_set_num_threads(1)
        windowStarted = Date()
        if isContinual && initialAccuracy.isEmpty {
            initialAccuracy = tasks.indices.map { evaluate(task: $0).accuracy }
        }
        let batchSize = spec.optimizer.batchSize
        let features = train.features
        while step < totalSteps {
            if observer.sessionShouldStop(self) { return .stopped }
            let stepStarted = Date()
            let (t, epoch, b) = locate(step)
            let task = tasks[t]
            if step == taskStart[t] && b == 0 && epoch == 0 {
                consolidator.beginTask(model)
                if t > 0 { neuromodulators.protocolBoundary() }
            }
            let key = t * 100_000 + epoch
            if permutationKey != key {
                var rng = RandomSource(seed: spec.seed, stream: 1000 + UInt64(t) * 10_000 + UInt64(epoch))
                permutation = rng.permutation(task.trainIndices.count)
                permutationKey = key
            }
            let begin = b * batchSize
            let count = min(batchSize, task.trainIndices.count - begin)
            let x = model.inputBuffer(batch: count)
            for r in 0..<count {
                let i = Int(task.trainIndices[Int(permutation[begin + r])])
                copyInput(i, from: train, permutation: task.permutation, to: x + r * features)
                labelBuffer[r] = task.labelMap[Int(train.labels[i])]
            }
            applyModulation(task: t)
            optimizer.beginStep()
            let stats = labelBuffer.withUnsafeBufferPointer { model.forwardStatistics(batch: count, labels: $0.baseAddress!) }
            var detected = false
            if neuromodulators.isActive || spec.neuromodulation.context.boundaries != "protocol" {
                detected = neuromodulators.observe(loss: stats.loss / Double(count), entropy: stats.normalizedEntropy / Double(count))
            }
            let effects = neuromodulators.effects
            consolidator.strengthFactor = Float(effects.consolidation)
            model.gateLearningRate = optimizer.learningRate * Float(effects.learningRate)
            labelBuffer.withUnsafeBufferPointer {
                model.backwardAndUpdate(batch: count, labels: $0.baseAddress!, optimizer: optimizer,
                                        lrScale: Float(effects.learningRate), layerScales: effects.layerLearningRate,
                                        consolidator: consolidator)
            }
            step += 1
            samplesSeen += count
            epochLoss += stats.loss; epochCorrect += stats.correct; epochSeen += count
            windowLoss += stats.loss; windowCorrect += stats.correct; windowSeen += count
            trainingSeconds += Date().timeIntervalSince(stepStarted)

            var metrics: [MetricSample] = []
            if detected { metrics.append(MetricSample(key: "context.boundary", step: step, value: 1)) }
            if step % spec.metricsEverySteps == 0 || step == totalSteps {
                metrics += windowMetrics()
            }
            let (tNext, eNext, bNext) = step < totalSteps ? locate(step) : (tasks.count, 0, 0)
            if bNext == 0 && (eNext != epoch || tNext != t) && !isContinual {
                metrics += epochEnd(epoch: epoch)
            }
            if isContinual && tNext != t {
                metrics += taskEnd(t)
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
        if consolidator.isActive { m.append(MetricSample(key: "consolidation.penalty", step: step, value: consolidator.penalty(model))) }
        m += neuromodulators.drainWindow(step: step)
        if let gate = model.gate { m += gate.drainWindow(step: step) }
        windowLoss = 0; windowCorrect = 0; windowSeen = 0
        windowStarted = Date()
        return m
    }

    private func epochEnd(epoch: Int) -> [MetricSample] {
        let test = evaluate(task: 0)
        finalTest = test
        defer { epochLoss = 0; epochCorrect = 0; epochSeen = 0 }
        return SupervisedMetrics.epochEnd(step: step, epoch: epoch, loss: epochLoss, correct: epochCorrect, seen: epochSeen, test: test)
    }

    /// After task t: a row of the accuracy matrix, consolidation, metrics.
    private func taskEnd(_ t: Int) -> [MetricSample] {
        let row = tasks.indices.map { evaluate(task: $0).accuracy }
        accuracyMatrix.append(row)
        if consolidator.spec.kind != .none {
            consolidator.endTask(model, fisher: consolidator.needsFisher ? fisher(task: t) : nil)
        }
        var m = row.enumerated().map { MetricSample(key: "task.\($0.offset).accuracy", step: step, value: $0.element) }
        let seen = row.prefix(t + 1)
        m.append(MetricSample(key: "continual.average_accuracy", step: step, value: seen.reduce(0, +) / Double(seen.count)))
        m.append(MetricSample(key: "continual.tasks_done", step: step, value: Double(t + 1)))
        epochLoss = 0; epochCorrect = 0; epochSeen = 0
        return m
    }

    /// Mean squared per-sample gradient over the first `fisher_samples` training samples of task t.
    func fisher(task t: Int) -> (w: [FloatBuffer], b: [FloatBuffer]) {
        let sizes = spec.model.layers
        let fw = (0..<(sizes.count - 1)).map { FloatBuffer(count: sizes[$0] * sizes[$0 + 1]) }
        let fb = (0..<(sizes.count - 1)).map { FloatBuffer(count: sizes[$0 + 1]) }
        let task = tasks[t]
        let n = min(spec.consolidation.fisherSamples, task.trainIndices.count)
        applyModulation(task: t)
        var labels = [Int32](repeating: 0, count: 256)
        var begin = 0
        while begin < n {
            let count = min(256, n - begin)
            let x = model.inputBuffer(batch: count)
            for r in 0..<count {
                let i = Int(task.trainIndices[begin + r])
                copyInput(i, from: train, permutation: task.permutation, to: x + r * train.features)
                labels[r] = task.labelMap[Int(train.labels[i])]
            }
            labels.withUnsafeBufferPointer { model.accumulateSquaredGradients(batch: count, labels: $0.baseAddress!, fisherW: fw, fisherB: fb) }
            begin += count
        }
        let inv = 1 / Float(max(n, 1))
        for buf in fw + fb { for i in 0..<buf.count { buf.pointer[i] *= inv } }
        return (fw, fb)
    }

    private func applyModulation(task t: Int) {
        var m = Modulation()
        let e = neuromodulators.effects
        m.gain = Float(e.gain)
        m.threshold = Float(e.threshold)
        m.temperature = Float(e.temperature)
        m.unitMasks = gates[t]
        m.allowedOutputs = tasks[t].allowedOutputs
        model.modulation = m
    }

    @inline(__always)
    private func copyInput(_ i: Int, from data: Dataset, permutation: [Int32]?, to dst: UnsafeMutablePointer<Float>) {
        let src = data.inputs.pointer + i * data.features
        if let p = permutation {
            for j in 0..<data.features { dst[j] = src[Int(p[j])] }
        } else {
            dst.update(from: src, count: data.features)
        }
    }

    /// Mean cross-entropy and accuracy on task t's test set (its gates, its outputs), batches of 1,000.
    public func evaluate(task t: Int) -> (loss: Double, accuracy: Double) {
        let task = tasks[t]
        let n = task.testIndices.count
        guard n > 0 else { return (0, 0) }
        applyModulation(task: t)
        model.modulation.temperature = 1
        model.gate?.recordsStatistics = false
        defer { model.gate?.recordsStatistics = true }
        var loss = 0.0, correct = 0
        let classes = model.sizes.last!
        var begin = 0
        while begin < n {
            let count = min(1000, n - begin)
            let x = model.inputBuffer(batch: count)
            for r in 0..<count { copyInput(Int(task.testIndices[begin + r]), from: test, permutation: task.permutation, to: x + r * test.features) }
            let p = model.forward(batch: count)
            for r in 0..<count {
                let row = p + r * classes
                let y = Int(task.labelMap[Int(test.labels[Int(task.testIndices[begin + r])])])
                var best = 0
                for c in 1..<classes where row[c] > row[best] { best = c }
                if best == y { correct += 1 }
                loss -= Foundation.log(Double(row[y]) + 1e-12)
            }
            begin += count
        }
        return (loss / Double(n), Double(correct) / Double(n))
    }

    // MARK: - Summary

    public var selectionMetric: String? { isContinual ? "continual.average_accuracy" : "test.accuracy" }

    public func summary() -> JSONValue {
        var s: [String: JSONValue] = [
            "protocol": .string(spec.protocol.kind.rawValue),
            "steps": .number(Double(step)),
            "total_steps": .number(Double(totalSteps)),
            "train_samples_per_s": .number(trainingSeconds > 0 ? (Double(samplesSeen) / trainingSeconds).rounded() : 0),
        ]
        if let f = finalTest {
            s["test_accuracy"] = .number(f.accuracy)
            s["test_loss"] = .number(f.loss)
        }
        if isContinual {
            s["scenario"] = spec.protocol.scenario.map { .string($0.rawValue) } ?? .string("domain-incremental")
            s["tasks"] = .array(tasks.map { .string($0.name) })
            s["initial_accuracy"] = .numbers(initialAccuracy)
            s["accuracy_matrix"] = .array(accuracyMatrix.map { .numbers($0) })
            if !accuracyMatrix.isEmpty {
                let square = accuracyMatrix.count == tasks.count
                let m = ContinualMetrics(matrix: accuracyMatrix.map { Array($0.prefix(accuracyMatrix.count)) },
                                         initial: Array(initialAccuracy.prefix(accuracyMatrix.count)))
                s["average_accuracy"] = .number(m.averageAccuracy)
                s["backward_transfer"] = .number(m.backwardTransfer)
                s["forward_transfer"] = .number(m.forwardTransfer)
                s["forgetting"] = .number(m.forgetting)
                s["complete"] = .bool(square)
            }
        }
        if neuromodulators.isActive || neuromodulators.detectedBoundaries > 0 {
            s["neuromodulators"] = .object(neuromodulators.runMeans.mapValues { .number($0) })
            s["detected_boundaries"] = .number(Double(neuromodulators.detectedBoundaries))
        }
        return .object(s)
    }

    // MARK: - Checkpoints

    public func checkpoint(extraMetadata: [String: String]) -> Data {
        var file = Safetensors.File()
        for l in 0..<model.layerCount {
            let shape = [model.sizes[l], model.sizes[l + 1]]
            file.tensors["layers.\(l).weight"] = .init(shape: shape, values: model.weights[l].array)
            file.tensors["layers.\(l).bias"] = .init(shape: [model.sizes[l + 1]], values: model.biases[l].array)
            if optimizer.kind == .adam {
                let m = optimizer.moments[l]
                file.tensors["optimizer.layers.\(l).weight.m"] = .init(shape: shape, values: m.mW.array)
                file.tensors["optimizer.layers.\(l).weight.v"] = .init(shape: shape, values: m.vW.array)
                file.tensors["optimizer.layers.\(l).bias.m"] = .init(shape: [model.sizes[l + 1]], values: m.mB.array)
                file.tensors["optimizer.layers.\(l).bias.v"] = .init(shape: [model.sizes[l + 1]], values: m.vB.array)
            }
        }
        for (name, buffer) in consolidator.stateTensors {
            file.tensors[name] = .init(shape: [buffer.count], values: buffer.array)
        }
        if let gate = model.gate {
            file.tensors["modulatory_gate.weight"] = .init(shape: [gate.inputs, gate.units], values: gate.weights.array)
            file.tensors["modulatory_gate.bias"] = .init(shape: [gate.units], values: gate.bias.array)
        }
        var meta = CheckpointHeader.metadata(format: Self.checkpointFormat, session: self, extra: extraMetadata)
        meta["layers"] = model.sizes.map(String.init).joined(separator: ",")
        meta["activation"] = model.activation.rawValue
        meta["output"] = "softmax"
        meta["labels"] = train.labelNames.joined(separator: "|")
        meta["optimizer_t"] = String(optimizer.t)
        meta["running_sums"] = JSONValue.numbers([epochLoss, Double(epochCorrect), Double(epochSeen), windowLoss,
                                                  Double(windowCorrect), Double(windowSeen), Double(samplesSeen), trainingSeconds,
                                                  Double(consolidator.tasksConsolidated)]).serializedString
        meta["accuracy_matrix"] = JSONValue.array(accuracyMatrix.map { .numbers($0) }).serializedString
        meta["initial_accuracy"] = JSONValue.numbers(initialAccuracy).serializedString
        if let f = finalTest { meta["final_test"] = JSONValue.numbers([f.loss, f.accuracy]).serializedString }
        meta["neuromodulators"] = neuromodulators.saveState()
        file.metadata = meta
        return Safetensors.encode(file)
    }

    public func restore(from data: Data) throws {
        let (file, s) = try CheckpointHeader.open(data, format: Self.checkpointFormat, session: self)
        for l in 0..<model.layerCount {
            try file.load("layers.\(l).weight", into: model.weights[l])
            try file.load("layers.\(l).bias", into: model.biases[l])
            if optimizer.kind == .adam {
                let m = optimizer.moments[l]
                try file.load("optimizer.layers.\(l).weight.m", into: m.mW)
                try file.load("optimizer.layers.\(l).weight.v", into: m.vW)
                try file.load("optimizer.layers.\(l).bias.m", into: m.mB)
                try file.load("optimizer.layers.\(l).bias.v", into: m.vB)
            }
        }
        for (name, buffer) in consolidator.stateTensors { try file.load(name, into: buffer) }
        if let gate = model.gate {
            try file.load("modulatory_gate.weight", into: gate.weights)
            try file.load("modulatory_gate.bias", into: gate.bias)
        }
        func numbers(_ key: String) throws -> [Double] {
            guard case .array(let a)? = JSONValue.parse(Data(try file.meta(key).utf8)) else { throw CheckpointError("checkpoint metadata \(key) is malformed") }
            return a.compactMap(\.numberValue)
        }
        guard let t = Int(try file.meta("optimizer_t")) else { throw CheckpointError("checkpoint metadata is malformed") }
        let sums = try numbers("running_sums")
        guard sums.count == 9 else { throw CheckpointError("checkpoint metadata running_sums is malformed") }
        guard case .array(let rows)? = JSONValue.parse(Data(try file.meta("accuracy_matrix").utf8)) else {
            throw CheckpointError("checkpoint metadata accuracy_matrix is malformed")
        }
        step = s
        optimizer.t = t
        epochLoss = sums[0]; epochCorrect = Int(sums[1]); epochSeen = Int(sums[2])
        windowLoss = sums[3]; windowCorrect = Int(sums[4]); windowSeen = Int(sums[5])
        samplesSeen = Int(sums[6]); trainingSeconds = sums[7]
        consolidator.restoreCount(Int(sums[8]))
        accuracyMatrix = rows.map { ($0.arrayValue ?? []).compactMap(\.numberValue) }
        initialAccuracy = try numbers("initial_accuracy")
        if file.metadata["final_test"] != nil {
            let f = try numbers("final_test")
            finalTest = (f[0], f[1])
        }
        try neuromodulators.restoreState(try file.meta("neuromodulators"))
        permutationKey = -1
    }
}

extension JSONValue {
    var serializedString: String { String(decoding: serialized(), as: UTF8.self) }
    var numberValue: Double? { if case .number(let d) = self { return d } else { return nil } }
    var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
}
