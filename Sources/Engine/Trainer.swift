import Foundation
import CBLAS

/// One metric value at a global training step.
public struct MetricSample: Sendable, Equatable {
    public var key: String
    public var step: Int
    public var value: Double
    public init(key: String, step: Int, value: Double) {
        self.key = key
        self.step = step
        self.value = value
    }
}

/// What the trainer reports to, and asks of, whoever runs it.
public protocol TrainingObserver: AnyObject {
    /// New metric points (emitted every `metrics_every_steps` and at each epoch's end).
    func trainer(_ trainer: Trainer, emitted metrics: [MetricSample])
    /// Called every `checkpoint_every_steps` and when training completes; `Trainer.checkpoint()` makes the bytes.
    func trainerReachedCheckpoint(_ trainer: Trainer) throws
    /// Polled between steps; true makes ``Trainer/run(observer:)`` return `.stopped`.
    func trainerShouldStop(_ trainer: Trainer) -> Bool
}

/// Trains a model from an ``ExperimentSpec``, step by step, deterministically for a given seed:
/// the weights come from the seed, each epoch's sample order from (seed, epoch), so a run resumed
/// from a checkpoint continues bit for bit.
public final class Trainer {
    public enum Outcome: Sendable, Equatable { case completed, stopped }

    public let spec: ExperimentSpec
    public let train: Dataset
    public let test: Dataset
    public let model: MLP
    public let optimizer: Optimizer
    /// Steps completed (global, across epochs).
    public private(set) var step = 0
    public var totalSteps: Int { spec.totalSteps }

    // Running sums, saved in checkpoints so resumed metrics are identical.
    private var epochLoss = 0.0, epochCorrect = 0, epochSeen = 0
    private var windowLoss = 0.0, windowCorrect = 0, windowSeen = 0
    private var windowStarted = Date()
    private var permutation: [Int32] = []
    private var permutationEpoch = -1
    private var labelBuffer: [Int32] = []

    /// Checkpoint format identifier stored in the safetensors metadata.
    public static let checkpointFormat = "neuromod.mlp/1"

    public init(spec: ExperimentSpec, train: Dataset, test: Dataset) {
        self.spec = spec
        self.train = train.prefix(spec.trainCount)
        self.test = spec.data.testLimit.map { test.prefix($0) } ?? test
        var rng = RandomSource(seed: spec.seed, stream: 1)
        model = MLP(sizes: spec.model.layers, activation: spec.model.activation, rng: &rng)
        optimizer = Optimizer(spec: spec.optimizer, sizes: spec.model.layers)
        labelBuffer = [Int32](repeating: 0, count: spec.optimizer.batchSize)
    }

    /// Runs until done, or until the observer asks to stop (then the state is that of `step`).
    public func run(observer: TrainingObserver) throws -> Outcome {
        openblas_set_num_threads(1)
        windowStarted = Date()
        let batchSize = spec.optimizer.batchSize
        let n = train.count
        let features = train.features
        while step < totalSteps {
            if observer.trainerShouldStop(self) { return .stopped }
            let epoch = step / spec.stepsPerEpoch
            let indexInEpoch = step % spec.stepsPerEpoch
            if permutationEpoch != epoch {
                var rng = RandomSource(seed: spec.seed, stream: 1000 + UInt64(epoch))
                permutation = rng.permutation(n)
                permutationEpoch = epoch
            }
            let begin = indexInEpoch * batchSize
            let count = min(batchSize, n - begin)
            let x = model.inputBuffer(batch: count)
            let src = train.inputs.pointer
            for r in 0..<count {
                let i = Int(permutation[begin + r])
                (x + r * features).update(from: src + i * features, count: features)
                labelBuffer[r] = train.labels[i]
            }
            optimizer.beginStep()
            let (loss, correct) = labelBuffer.withUnsafeBufferPointer {
                model.trainStep(batch: count, labels: $0.baseAddress!, optimizer: optimizer)
            }
            step += 1
            epochLoss += loss; epochCorrect += correct; epochSeen += count
            windowLoss += loss; windowCorrect += correct; windowSeen += count

            var metrics: [MetricSample] = []
            if step % spec.metricsEverySteps == 0 || step == totalSteps {
                let elapsed = Date().timeIntervalSince(windowStarted)
                metrics.append(MetricSample(key: "train.loss", step: step, value: windowLoss / Double(max(windowSeen, 1))))
                metrics.append(MetricSample(key: "train.accuracy", step: step, value: Double(windowCorrect) / Double(max(windowSeen, 1))))
                if elapsed > 0 { metrics.append(MetricSample(key: "train.samples_per_s", step: step, value: Double(windowSeen) / elapsed)) }
                windowLoss = 0; windowCorrect = 0; windowSeen = 0
                windowStarted = Date()
            }
            if step % spec.stepsPerEpoch == 0 {
                let (testLoss, testAccuracy) = evaluate(test)
                metrics.append(MetricSample(key: "epoch", step: step, value: Double(epoch + 1)))
                metrics.append(MetricSample(key: "epoch.train_loss", step: step, value: epochLoss / Double(max(epochSeen, 1))))
                metrics.append(MetricSample(key: "epoch.train_accuracy", step: step, value: Double(epochCorrect) / Double(max(epochSeen, 1))))
                metrics.append(MetricSample(key: "test.loss", step: step, value: testLoss))
                metrics.append(MetricSample(key: "test.accuracy", step: step, value: testAccuracy))
                epochLoss = 0; epochCorrect = 0; epochSeen = 0
            }
            if !metrics.isEmpty { observer.trainer(self, emitted: metrics) }
            if step % spec.checkpointEverySteps == 0 || step == totalSteps {
                try observer.trainerReachedCheckpoint(self)
            }
        }
        return .completed
    }

    /// Mean cross-entropy and accuracy over a dataset, in batches of 1,000.
    public func evaluate(_ data: Dataset) -> (loss: Double, accuracy: Double) {
        guard data.count > 0 else { return (0, 0) }
        var loss = 0.0, correct = 0
        let classes = model.sizes.last!
        var begin = 0
        while begin < data.count {
            let count = min(1000, data.count - begin)
            let x = model.inputBuffer(batch: count)
            x.update(from: data.inputs.pointer + begin * data.features, count: count * data.features)
            let p = model.forward(batch: count)
            for r in 0..<count {
                let row = p + r * classes
                let y = Int(data.labels[begin + r])
                var best = 0
                for c in 1..<classes where row[c] > row[best] { best = c }
                if best == y { correct += 1 }
                loss -= Foundation.log(Double(row[y]) + 1e-12)
            }
            begin += count
        }
        return (loss / Double(data.count), Double(correct) / Double(data.count))
    }

    // MARK: - Checkpoints

    /// The complete training state as safetensors bytes; `extraMetadata` (e.g. the run id) is added.
    public func checkpoint(extraMetadata: [String: String] = [:]) -> Data {
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
        var meta = extraMetadata
        meta["format"] = Self.checkpointFormat
        meta["step"] = String(step)
        meta["total_steps"] = String(totalSteps)
        meta["spec_hash"] = spec.hash
        meta["spec"] = String(decoding: spec.canonicalJSON(), as: UTF8.self)
        meta["layers"] = model.sizes.map(String.init).joined(separator: ",")
        meta["activation"] = model.activation.rawValue
        meta["output"] = "softmax"
        meta["labels"] = train.labelNames.joined(separator: "|")
        meta["optimizer_t"] = String(optimizer.t)
        meta["epoch_loss"] = "\(epochLoss)"
        meta["epoch_correct"] = String(epochCorrect)
        meta["epoch_seen"] = String(epochSeen)
        meta["window_loss"] = "\(windowLoss)"
        meta["window_correct"] = String(windowCorrect)
        meta["window_seen"] = String(windowSeen)
        file.metadata = meta
        return Safetensors.encode(file)
    }

    /// Restores the state saved by ``checkpoint(extraMetadata:)``; the spec must be the same.
    public func restore(from data: Data) throws {
        let file = try Safetensors.decode(data)
        func meta(_ k: String) throws -> String {
            guard let v = file.metadata[k] else { throw CheckpointError("checkpoint lacks metadata \(k)") }
            return v
        }
        guard try meta("format") == Self.checkpointFormat else { throw CheckpointError("checkpoint format is not \(Self.checkpointFormat)") }
        guard try meta("spec_hash") == spec.hash else { throw CheckpointError("checkpoint belongs to a different spec") }
        func load(_ name: String, into buffer: FloatBuffer) throws {
            guard let t = file.tensors[name], t.values.count == buffer.count else {
                throw CheckpointError("checkpoint tensor \(name) is missing or has the wrong size")
            }
            t.values.withUnsafeBufferPointer { buffer.pointer.update(from: $0.baseAddress!, count: buffer.count) }
        }
        for l in 0..<model.layerCount {
            try load("layers.\(l).weight", into: model.weights[l])
            try load("layers.\(l).bias", into: model.biases[l])
            if optimizer.kind == .adam {
                let m = optimizer.moments[l]
                try load("optimizer.layers.\(l).weight.m", into: m.mW)
                try load("optimizer.layers.\(l).weight.v", into: m.vW)
                try load("optimizer.layers.\(l).bias.m", into: m.mB)
                try load("optimizer.layers.\(l).bias.v", into: m.vB)
            }
        }
        guard let s = Int(try meta("step")), (0...totalSteps).contains(s),
              let t = Int(try meta("optimizer_t")),
              let el = Double(try meta("epoch_loss")), let ec = Int(try meta("epoch_correct")), let es = Int(try meta("epoch_seen")),
              let wl = Double(try meta("window_loss")), let wc = Int(try meta("window_correct")), let ws = Int(try meta("window_seen"))
        else { throw CheckpointError("checkpoint metadata is malformed") }
        step = s
        optimizer.t = t
        epochLoss = el; epochCorrect = ec; epochSeen = es
        windowLoss = wl; windowCorrect = wc; windowSeen = ws
        permutationEpoch = -1
    }
}

/// A checkpoint that cannot be restored into this trainer.
public struct CheckpointError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
