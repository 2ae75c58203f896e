import Foundation
import Support
import CBLAS

/// The MLP family's training: a supervised protocol (single task, split or permuted task
/// sequences), deterministic for a seed: weights come from the seed, each epoch's sample order
/// from (seed, task, epoch), so a run resumed from a checkpoint continues bit for bit.
///
/// Each step: forward (with the current gain/threshold/temperature and the task's gates) →
/// modulators observe loss and entropy → backward and update with the modulated learning rate
/// and consolidation strength.
public final class MLPFamily: SupervisedFamily {
    public static let kind = "mlp"
    public let spec: ExperimentSpec
    public let train: Dataset
    public let test: Dataset
    /// The tasks scored (rows of the accuracy matrix), the tasks trained in turn (for joint
    /// training all merged into one), the schedule and the minibatch order.
    private var stream: TaskStream
    public var tasks: [TrainingTask] { stream.tasks }
    public var trainingTasks: [TrainingTask] { stream.trainingTasks }
    public let model: MLP
    public let optimizer: Optimizer
    public let consolidator: Consolidator
    public let neuromodulators: NeuromodulatorSystem
    public var schedule: TrainingSchedule { stream.schedule }
    /// Per task, per hidden layer: the context gate (nil without gating).
    let gates: [[FloatBuffer?]]

    /// The accuracy matrices of a task sequence.
    public private(set) var continual: ContinualRecord
    public var accuracyMatrix: [[Double]] { continual.accuracyMatrix }
    public var initialAccuracy: [Double] { continual.initialAccuracy }
    public var validationMatrix: [[Double]] { continual.validationMatrix }
    private var scores: HeldOutScores
    /// Probes of earlier tasks after each switch (`protocol.stability_probe`).
    public private(set) var stability = StabilityGap()
    /// Context inference over gated sub-networks (`neuromodulation.context.inference`).
    public private(set) var contexts: ContextInference?
    /// The associative memory that recalls an input's context (selection `memory`).
    let contextMemory: ContextMemory?
    /// Uncertainty-driven gain on every layer (`neuromodulation.uncertainty_gain`).
    public private(set) var uncertaintyGain: UncertaintyGain?

    /// Whether the run holds out a validation split.

    public init(spec: ExperimentSpec, train: Dataset, test: Dataset) {
        self.spec = spec
        self.train = train
        self.test = test
        let stream = TaskStream(spec: spec, train: train, test: test)
        self.stream = stream
        continual = ContinualRecord(spec: spec, taskNames: stream.tasks.map(\.name))
        scores = HeldOutScores(validates: spec.data.validates)
        let taskCount = stream.tasks.count, outputs = spec.model.layers.last!
        contexts = spec.neuromodulation.context.inference.flatMap(ContextInference.Selection.init(rawValue:)).map {
            ContextInference(selection: $0, maxContexts: taskCount, outputs: outputs)
        }
        uncertaintyGain = spec.neuromodulation.uncertaintyGain.map { UncertaintyGain(eta: $0.eta, decay: $0.decay) }
        contextMemory = contexts?.selection == .memory
            ? ContextMemory(inputs: spec.model.layers[0], units: spec.neuromodulation.context.memoryUnits ?? ContextMemory.defaultUnits, contexts: taskCount, classes: outputs, seed: spec.seed) : nil
        var rng = RandomSource(seed: spec.seed, stream: 1)
        model = MLP(sizes: spec.model.layers, activation: spec.model.activation, rng: &rng)
        optimizer = Optimizer(spec: spec.optimizer, sizes: spec.model.layers)
        if let g = spec.neuromodulation.modulatoryGate {
            var gateRNG = RandomSource(seed: spec.seed, stream: 8000)
            model.gate = ModulatoryGate(inputs: spec.model.layers[0], units: spec.model.layers[1], biasInit: Float(g.biasInit), rng: &gateRNG)
        }
        consolidator = Consolidator(spec: spec.consolidation, sizes: spec.model.layers)
        neuromodulators = NeuromodulatorSystem(spec: spec.neuromodulation)
        // Context-dependent gating: each task keeps a fixed random fraction of each hidden layer.
        gates = stream.tasks.indices.map { ContextGating.unitMasks(spec: spec, task: $0) }
    }

    var isContinual: Bool { spec.protocol.isContinual }

    public var replayableModulators: NeuromodulatorSystem? { neuromodulators }

    /// Checkpoints are ranked on validation when the run has a validation split, else on test.
    public var selectionMetric: String? { spec.supervisedSelectionMetric }

    public func willTrain() {
        openblas_set_num_threads(1)
        if isContinual { continual.start { evaluate(task: $0).accuracy } }
    }

    public func trainStep(_ step: Int, at position: TrainingSchedule.Position, sums: inout MetricSums) -> StepReport {
        let (t, epoch, b) = (position.task, position.epoch, position.batch)
        if b == 0 && epoch == 0 {
            consolidator.beginTask(model)
            if t > 0 { neuromodulators.protocolBoundary() }
            if t > 0, contexts != nil {
                switch spec.neuromodulation.context.boundaries {
                case "protocol": contexts!.enter(t)          // the oracle schedule: context = task
                case "both": contexts!.openContext()
                default: break                               // task-free: only surprise opens contexts
                }
            }
        }
        let batch = stream.minibatch(at: position)
        let count = batch.indices.count
        let labelBuffer = TaskStream.load(batch, from: train, into: model.inputBuffer(batch: count))
        neuromodulators.beginStep(step)
        applyModulation(task: t, training: true)
        if contexts != nil { applyContext(contexts!.current) }
        optimizer.beginStep()
        var stats = labelBuffer.withUnsafeBufferPointer { model.forwardStatistics(batch: count, labels: $0.baseAddress!) }
        var detected = false
        if neuromodulators.isActive || spec.neuromodulation.context.boundaries != "protocol" {
            detected = neuromodulators.observe(loss: stats.loss / Double(count), entropy: stats.normalizedEntropy / Double(count))
        }
        if contexts != nil {
            // The surprise is judged before the batch trains anything: a batch that opens a new
            // context trains the new sub-network, and its classes join the new context's group only.
            let before = (contexts!.current, contexts!.groups[contexts!.current])
            if detected, spec.neuromodulation.context.boundaries != "protocol" { contexts!.openContext() }
            contexts!.add(outputs: (0..<count).map { Int(labelBuffer[$0]) })
            if before != (contexts!.current, contexts!.groups[contexts!.current]) {
                applyContext(contexts!.current)
                stats = labelBuffer.withUnsafeBufferPointer { model.forwardStatistics(batch: count, labels: $0.baseAddress!) }
            }
            if let contextMemory { labelBuffer.withUnsafeBufferPointer { contextMemory.learn(model.inputBuffer(batch: count), count: count, context: contexts!.current, labels: $0.baseAddress!) } }
        }
        let effects = neuromodulators.effects
        consolidator.strengthFactor = Float(effects.consolidation)
        model.gateLearningRate = optimizer.learningRate * Float(effects.learningRate)
        labelBuffer.withUnsafeBufferPointer {
            model.backwardAndUpdate(batch: count, labels: $0.baseAddress!, optimizer: optimizer,
                                    lrScale: Float(effects.learningRate), layerScales: effects.layerLearningRate,
                                    consolidator: consolidator)
        }
        neuromodulators.endStep()
        if uncertaintyGain != nil {
            let competing = model.modulation.allowedOutputs.map { $0.filter { $0 }.count } ?? model.sizes.last!
            sums.add("uncertainty_gain", uncertaintyGain!.gain)
            sums.add("gain_steps", 1)
            uncertaintyGain!.observe(entropy: stats.normalizedEntropy / Double(count) * Foundation.log(Double(max(competing, 2))))
        }
        SupervisedMetrics.add(&sums, loss: stats.loss, correct: stats.correct, seen: count)
        var report = StepReport(samples: count, boundaryDetected: detected)
        let since = step + 1 - schedule.taskStart[t]
        if t > 0, StabilityGap.due(spec.protocol.stabilityProbe, since: since) {
            for j in 0..<t {
                let accuracy = evaluate(task: j).accuracy
                stability.record(boundary: t, task: j, step: since, accuracy: accuracy)
                report.events.append(("stability.task\(j).accuracy", accuracy))
            }
        }
        return report
    }

    public func windowMetrics(step: Int, sums: MetricSums.Span, elapsed: Double) -> [MetricSample] {
        var m = SupervisedMetrics.window(step: step, sums, elapsed: elapsed)
        if consolidator.isActive { m.append(MetricSample(key: "consolidation.penalty", step: step, value: consolidator.penalty(model))) }
        m += neuromodulators.drainWindow(step: step)
        if let gate = model.gate { m += gate.drainWindow(step: step) }
        if uncertaintyGain != nil { m.append(MetricSample(key: "nm.uncertainty_gain", step: step, value: sums.ratio("uncertainty_gain", per: "gain_steps"))) }
        return m
    }

    public func epochEnded(_ position: TrainingSchedule.Position, step: Int, sums: MetricSums.Span) -> [MetricSample] {
        guard !isContinual else { return [] }
        return scores.epochEnded(step: step, epoch: position.epoch, sums: sums) { evaluate(task: 0, on: $0) }
    }

    /// After task t: a row of the accuracy matrix, consolidation, metrics.
    public func taskEnded(_ t: Int, step: Int) -> [MetricSample] {
        guard isContinual else { return [] }
        contexts?.taskTrained(t)
        selectionHits = (0, 0)
        var m = continual.taskEnded(t, step: step) { evaluate(task: $0, on: $1).accuracy }
        if contexts != nil && selectionHits.total > 0 {
            let share = Double(selectionHits.right) / Double(selectionHits.total)
            contexts!.record(selectionAccuracy: share)
            m.append(MetricSample(key: "context.selection_accuracy", step: step, value: share))
            m.append(MetricSample(key: "context.used", step: step, value: Double(contexts!.used)))
        }
        if consolidator.spec.kind != .none {
            consolidator.endTask(model, fisher: consolidator.needsFisher ? fisher(task: t) : nil)
        }
        return m
    }

    /// Task t's diagonal Fisher over its first `fisher_samples` training samples: exact (the
    /// expectation over the model's predictive distribution) or empirical (the observed labels).
    func fisher(task t: Int) -> (w: [FloatBuffer], b: [FloatBuffer]) {
        let sizes = spec.model.layers
        let fw = (0..<(sizes.count - 1)).map { FloatBuffer(count: sizes[$0] * sizes[$0 + 1]) }
        let fb = (0..<(sizes.count - 1)).map { FloatBuffer(count: sizes[$0 + 1]) }
        let task = trainingTasks[t]
        let n = min(spec.consolidation.fisherSamples, task.trainIndices.count)
        applyModulation(task: t)
        // Estimating the Fisher must not train: the modulatory gate learns in its backward pass.
        let gateRate = model.gateLearningRate
        model.gateLearningRate = 0
        defer { model.gateLearningRate = gateRate }
        var labels = [Int32](repeating: 0, count: 256)
        var begin = 0
        while begin < n {
            let count = min(256, n - begin)
            let x = model.inputBuffer(batch: count)
            for r in 0..<count {
                let i = Int(task.trainIndices[begin + r])
                train.copyInput(i, permutation: task.permutation, to: x + r * train.features)
                labels[r] = task.labelMap[Int(train.labels[i])]
            }
            if spec.consolidation.fisher == .exact {
                model.accumulateExpectedFisher(batch: count, fisherW: fw, fisherB: fb)
            } else {
                labels.withUnsafeBufferPointer { model.accumulateSquaredGradients(batch: count, labels: $0.baseAddress!, fisherW: fw, fisherB: fb) }
            }
            begin += count
        }
        let inv = 1 / Float(max(n, 1))
        for buf in fw + fb { for i in 0..<buf.count { buf.pointer[i] *= inv } }
        return (fw, fb)
    }

    /// The forward pass's modulation for task t: the neuromodulators' gain, threshold and
    /// temperature, the task's gates and output group — and, training with the labels trick, the
    /// task's own classes only.
    private func applyModulation(task t: Int, training: Bool = false) {
        var m = Modulation()
        let e = neuromodulators.effects
        let g = uncertaintyGain?.gain ?? 1
        m.gain = Float(e.gain * g)
        m.threshold = Float(e.threshold)
        m.temperature = Float(e.temperature / g)
        m.unitMasks = gates.indices.contains(t) ? gates[t] : []
        m.allowedOutputs = tasks.indices.contains(t) ? tasks[t].allowedOutputs : nil
        if training && spec.protocol.labelsTrick {
            m.allowedOutputs = (0..<model.sizes.last!).map { $0 / 2 == t }
        }
        model.modulation = m
    }


    /// Mean cross-entropy and accuracy on task t's test set (its gates, its outputs), batches of 1,000.
    public func evaluate(task t: Int, on split: EvaluationSplit = .test) -> Evaluation {
        if contexts != nil { return evaluateInferringContext(task: t, on: split) }
        applyModulation(task: t)
        model.modulation.temperature = 1
        model.gate?.recordsStatistics = false
        defer { model.gate?.recordsStatistics = true }
        let model = self.model, classes = model.sizes.last!
        return tasks[t].evaluate(on: split, train: train, test: test, buffer: { model.inputBuffer(batch: $0) }) { _, targets in
            let p = model.forward(batch: targets.count)
            var loss = 0.0, correct = 0
            for (r, y) in targets.enumerated() {
                let row = p + r * classes
                var best = 0
                for c in 1..<classes where row[c] > row[best] { best = c }
                if best == y { correct += 1 }
                loss -= Foundation.log(Double(row[y]) + 1e-12)
            }
            return (loss, correct)
        }
    }

    // MARK: - Context inference

    /// Test inputs given their own task's context, of those scored since the last task end.
    private var selectionHits = (right: 0, total: 0)

    /// The forward pass of context c: its unit masks and its output group.
    private func applyContext(_ c: Int) {
        model.modulation.unitMasks = gates.indices.contains(c) ? gates[c] : []
        let group = contexts!.groups[c]
        model.modulation.allowedOutputs = group.contains(true) ? group : nil   // an untrained context: every output
    }

    /// Scores task t's held-out images choosing each input's context by the spec's selection: one
    /// forward pass per context in use (entropy), or one (oracle, random).
    private func evaluateInferringContext(task t: Int, on split: EvaluationSplit) -> Evaluation {
        guard let contexts else { return Evaluation(loss: 0, accuracy: 0) }
        let task = tasks[t]
        let (indices, data) = split == .test ? (task.testIndices, test) : (task.validationIndices, train)
        guard !indices.isEmpty else { return Evaluation(loss: 0, accuracy: 0) }
        applyModulation(task: t)
        model.modulation.temperature = 1
        model.gate?.recordsStatistics = false
        defer { model.gate?.recordsStatistics = true }
        let classes = model.sizes.last!
        let own = contexts.contextOfTask[t]
        let candidates = Array(0..<contexts.used).filter { c in contexts.groups[c].contains(true) }
        var rng = RandomSource(seed: spec.seed, stream: 90_000 + UInt64(t))
        var loss = 0.0, correct = 0, begin = 0
        while begin < indices.count {
            let count = min(1000, indices.count - begin)
            // Per row: the chosen context's probabilities and its uncertainty.
            var chosen = [Int](repeating: -1, count: count)
            var best = [Double](repeating: .infinity, count: count)
            var probabilities = [Float](repeating: 0, count: count * classes)
            let pool: [Int]
            switch contexts.selection {
            case .entropy: pool = candidates
            case .oracle: pool = [own ?? candidates.first ?? 0]
            case .random, .memory: pool = candidates.isEmpty ? [0] : candidates
            }
            var pick: [Int] = []
            if contexts.selection == .random { pick = (0..<count).map { _ in pool[rng.below(pool.count)] } }
            if contexts.selection == .memory, let memory = contextMemory {
                let x = model.inputBuffer(batch: count)
                for r in 0..<count { data.copyInput(Int(indices[begin + r]), permutation: task.permutation, to: x + r * data.features) }
                pick = memory.recall(x, count: count, pool: pool, groups: contexts.groups)
            }
            let picks = !pick.isEmpty
            for c in pool {
                if picks && !pick.contains(c) { continue }
                let x = model.inputBuffer(batch: count)
                for r in 0..<count { data.copyInput(Int(indices[begin + r]), permutation: task.permutation, to: x + r * data.features) }
                applyContext(c)
                let p = model.forward(batch: count)
                for r in 0..<count {
                    let row = p + r * classes
                    let u = contexts.selection == .entropy ? ContextInference.uncertainty(row, group: contexts.groups[c]) : 0
                    let wanted = picks ? pick[r] == c : u < best[r]
                    if wanted {
                        best[r] = u
                        chosen[r] = c
                        for k in 0..<classes { probabilities[r * classes + k] = row[k] }
                    }
                }
            }
            for r in 0..<count {
                let y = Int(task.labelMap[Int(data.labels[Int(indices[begin + r])])])
                let row = Array(probabilities[(r * classes)..<((r + 1) * classes)])
                let top = row.indices.max { row[$0] < row[$1] } ?? 0
                if top == y { correct += 1 }
                loss -= Foundation.log(Double(row[y]) + 1e-12)
                if split == .test, let own {
                    selectionHits.total += 1
                    if chosen[r] == own { selectionHits.right += 1 }
                }
            }
            begin += count
        }
        return Evaluation(loss: loss / Double(indices.count), accuracy: Double(correct) / Double(indices.count))
    }

    // MARK: - Summary

    public func summarize(into s: inout [String: JSONValue], sums: MetricSums) {
        s["protocol"] = .string(spec.protocol.kind.rawValue)
        scores.summarize(into: &s)
        if isContinual { continual.summarize(into: &s) }
        if spec.protocol.stabilityProbe != nil {
            let gap = stability.summary(accuracyMatrix: accuracyMatrix)
            s["stability_gap"] = gap
            // Means over every (switch, earlier task) pair: the depth of the drop and the worst accuracy.
            let entries = gap.arrayValue?.compactMap(\.objectValue) ?? []
            if !entries.isEmpty {
                let mean = { (key: String) in entries.compactMap { $0[key]?.numberValue }.reduce(0, +) / Double(entries.count) }
                s["stability_gap_mean"] = .object(["depth": .number(mean("depth")), "min": .number(mean("min"))])
            }
        }
        if uncertaintyGain != nil { s["uncertainty_gain_mean"] = .number(sums.run.ratio("uncertainty_gain", per: "gain_steps")) }
        if let contexts {
            s["contexts"] = .object([
                "selection": .string(contexts.selection.rawValue), "used": .number(Double(contexts.used)),
                "context_of_task": .object(Dictionary(uniqueKeysWithValues: contexts.contextOfTask.map { (String($0.key), JSONValue.number(Double($0.value))) })),
                "selection_accuracy": contexts.lastSelectionAccuracy.map { .number($0) } ?? .null,
            ])
        }
        if neuromodulators.isActive || neuromodulators.detectedBoundaries > 0 {
            s["neuromodulators"] = .object(neuromodulators.runMeans.mapValues { .number($0) })
            s["detected_boundaries"] = .number(Double(neuromodulators.detectedBoundaries))
        }
    }

    // MARK: - Checkpoints

    public func save(to w: inout CheckpointWriter) {
        MLPServable.describe(model, labels: train.labelNames, into: &w)
        for l in 0..<model.layerCount {
            let shape = [model.sizes[l], model.sizes[l + 1]]
            w.tensor("layers.\(l).weight", model.weights[l], shape: shape)
            w.tensor("layers.\(l).bias", model.biases[l])
        }
        optimizer.save(to: &w)
        consolidator.save(to: &w)
        if let gate = model.gate {
            w.tensor("modulatory_gate.weight", gate.weights, shape: [gate.inputs, gate.units])
            w.tensor("modulatory_gate.bias", gate.bias)
        }
        continual.save(to: &w)
        if let contexts { w.state("contexts", contexts) }
        if let uncertaintyGain { w.state("uncertainty_gain", uncertaintyGain) }
        if let contextMemory { w.tensor("context_memory.readout", contextMemory.readout, shape: contextMemory.shape) }
        if spec.protocol.stabilityProbe != nil { w.state("stability", stability) }
        scores.save(to: &w)
        w.state("neuromodulators", neuromodulators.state)
        neuromodulators.saveTrace(to: &w)
    }

    public func load(from r: CheckpointReader) throws {
        for l in 0..<model.layerCount {
            try r.tensor("layers.\(l).weight", into: model.weights[l])
            try r.tensor("layers.\(l).bias", into: model.biases[l])
        }
        try optimizer.load(from: r)
        try consolidator.load(from: r)
        if let gate = model.gate {
            try r.tensor("modulatory_gate.weight", into: gate.weights)
            try r.tensor("modulatory_gate.bias", into: gate.bias)
        }
        try continual.load(from: r)
        if contexts != nil { contexts = try r.state("contexts") }
        if uncertaintyGain != nil { uncertaintyGain = try r.state("uncertainty_gain") }
        if let contextMemory { try r.tensor("context_memory.readout", into: contextMemory.readout) }
        if spec.protocol.stabilityProbe != nil { stability = try r.state("stability") }
        try scores.load(from: r)
        try neuromodulators.restore(try r.state("neuromodulators"))
        try neuromodulators.loadTrace(from: r)
        stream.reset()
    }
}

extension MLPFamily {
    /// Multi-layer perceptrons on supervised protocols (`model.kind` `mlp`).
    public static let registration = supervisedRegistration(accepts: { $0.model.kind == "mlp" && !$0.protocol.isReward }, makeServable: { try MLPServable(spec: $0, file: $1) })
}
