import ArgumentParser
import Foundation
import Support
import Engine

/// Times the engine alone (no HTTP, no SQLite), for BENCHMARKS.md.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an MLP (or any run spec) on Fashion-MNIST in-process and print training samples/s (last line: RESULT {json}).")

    @Option(help: "Hidden layer sizes, comma-separated.") var hidden: String = "256"
    @Option(help: "Epochs.") var epochs: Int = 1
    @Option(help: "Minibatch size.") var batch: Int = 64
    @Option(help: "sgd or adam.") var optimizer: String = "sgd"
    @Option(help: "Learning rate (default 0.05 for sgd, 0.001 for adam).") var lr: Double?
    @Option(help: "Seed.") var seed: Int = 0
    @Option(help: "A JSON object merged into the spec as its neuromodulation section (overhead measurements).")
    var neuromodulation: String?
    @Option(name: .customLong("dataset-dir"), help: "Fashion-MNIST folder.") var datasetDir: String = DatasetLibrary.defaultFashionMNISTDirectory
    @Option(help: "Time this run spec (any family; its own epochs) instead of the MLP the other options describe.")
    var spec: String?
    @Option(help: "The spiking kernels' instruction set: avx512, avx2 or portable (default: the best this CPU has).")
    var isa: String?

    func run() throws {
        MemoryPolicy.returnLargeBlocks()
        if let isa {
            guard let wanted = SpikeKernels.InstructionSet.allCases.first(where: { $0.description == isa }) else {
                throw ValidationError("--isa must be avx512, avx2 or portable")
            }
            guard SpikeKernels.use(wanted) == wanted else { throw ValidationError("this CPU cannot run \(isa)") }
        }
        if let spec { return try runSpec(spec) }
        let hiddenSizes = hidden.split(separator: ",").compactMap { Int($0) }
        let layers = [784] + hiddenSizes + [10]
        var opt: [String: JSONValue] = ["kind": .string(optimizer), "batch_size": .number(Double(batch))]
        if let lr { opt["learning_rate"] = .number(lr) }
        var root: [String: JSONValue] = [
            "seed": .number(Double(seed)),
            "model": .object(["layers": .array(layers.map { .number(Double($0)) })]),
            "optimizer": .object(opt),
            "protocol": .object(["epochs": .number(Double(epochs))]),
            "checkpoint_every_steps": .number(10_000_000),
            "metrics_every_steps": .number(1_000_000),
        ]
        if let neuromodulation {
            guard let nm = JSONValue.parse(Data(neuromodulation.utf8)) else { throw ValidationError("--neuromodulation is not JSON") }
            root["neuromodulation"] = nm
        }
        let spec = try ExperimentSpec.parse(.object(root))
        let (train, test) = try DatasetLibrary(directory: datasetDir).load("fashion-mnist")
        let trainer = TrainingLoop(MLPFamily(spec: spec, train: train, test: test))
        let observer = EpochTimer(stepsPerEpoch: spec.stepsPerEpoch, samples: spec.trainCount)
        _ = try trainer.run(observer: observer)
        observer.finish(epochs: epochs)
        let rates = observer.epochRates
        let acc = trainer.family.evaluate(task: 0).accuracy
        for (i, r) in rates.enumerated() { print(String(format: "epoch %d: %.0f samples/s", i + 1, r)) }
        let sorted = rates.sorted()
        let result: [String: JSONValue] = [
            "engine": .string("neuromod"), "layers": .array(layers.map { .number(Double($0)) }),
            "batch": .number(Double(batch)), "optimizer": .string(optimizer), "epochs": .number(Double(epochs)),
            "neuromodulation": .bool(neuromodulation != nil),
            "train_samples_per_s_epoch1": .number((rates.first ?? 0).rounded()),
            "train_samples_per_s_median": .number(sorted[sorted.count / 2].rounded()),
            "test_acc": .number((acc * 10000).rounded() / 10000),
        ]
        print("RESULT " + String(decoding: JSONValue.object(result).serialized(), as: UTF8.self))
    }
}

extension Bench {
    /// Times a run spec's training epochs (evaluation excluded) and reports its accuracy after them.
    func runSpec(_ path: String) throws {
        let parsed = try readSpec(path, seed: seed)
        let session = try FamilyRegistry.makeSession(spec: parsed, datasets: DatasetLibrary(directory: datasetDir))
        let observer = EpochTimer(stepsPerEpoch: parsed.stepsPerEpoch, samples: parsed.trainCount)
        let started = Date()
        _ = try session.run(observer: observer)
        let wall = Date().timeIntervalSince(started)
        observer.finish(epochs: parsed.protocol.epochs)
        let rates = observer.epochRates
        for (i, r) in rates.enumerated() { print(String(format: "epoch %d: %.0f samples/s", i + 1, r)) }
        guard case .object(let summary) = session.summary() else { return }
        let result: [String: JSONValue] = [
            "engine": .string("neuromod"), "spec": .string(path), "seed": .number(Double(seed)),
            "model": .string(parsed.model.kind), "isa": .string(SpikeKernels.instructionSet.description),
            "epochs": .number(Double(parsed.protocol.epochs)),
            "train_samples_per_s_epoch1": .number((rates.first ?? 0).rounded()),
            "train_seconds": .number((observer.totalTrainingTime * 1000).rounded() / 1000),
            "wall_seconds": .number((wall * 100).rounded() / 100),
            "test_acc": summary["test_accuracy"] ?? .null,
        ]
        print("RESULT " + String(decoding: JSONValue.object(result).serialized(), as: UTF8.self))
    }
}

/// The run spec in the JSON file at `path`, its seed replaced when one is given.
func readSpec(_ path: String, seed: Int?) throws -> ExperimentSpec {
    guard case .object(var root)? = JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: path))) else {
        throw ValidationError("\(path) is not a JSON object")
    }
    if let seed { root["seed"] = .number(Double(seed)) }
    return try ExperimentSpec.parse(.object(root))
}

/// Measures each epoch's wall time from the session's callbacks (evaluation excluded).
final class EpochTimer: TrainingObserver {
    let stepsPerEpoch: Int
    let samples: Int
    var epochStart = Date()
    var epochRates: [Double] = []
    var trainingTime = 0.0
    /// Every epoch's training time so far.
    var totalTrainingTime = 0.0

    init(stepsPerEpoch: Int, samples: Int) {
        self.stepsPerEpoch = stepsPerEpoch
        self.samples = samples
    }

    func finish(epochs: Int) {
        if epochRates.count < epochs { epochRates.append(Double(samples) / trainingTime) }
    }

    func session(_ session: TrainingSession, emitted metrics: [MetricSample]) {}
    func sessionReachedCheckpoint(_ session: TrainingSession) throws {}
    func sessionShouldStop(_ session: TrainingSession) -> Bool {
        if session.step % stepsPerEpoch == 0 {
            // The interval ending here held the epoch's last step and its evaluation: skipped.
            if session.step > 0 { epochRates.append(Double(samples) / trainingTime) }
            trainingTime = 0
        } else {
            trainingTime += Date().timeIntervalSince(epochStart)
            totalTrainingTime += Date().timeIntervalSince(epochStart)
        }
        epochStart = Date()
        return false
    }
}

/// Runs one spec in-process and prints its summary (for experiment reports).
struct Experiment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a run spec in-process (no server) and print its summary as JSON on the last line.")

    @Option(help: "Path of a run spec JSON file.") var spec: String
    @Option(help: "Override the spec's seed.") var seed: Int?
    @Option(name: .customLong("dataset-dir"), help: "Fashion-MNIST folder.") var datasetDir: String = DatasetLibrary.defaultFashionMNISTDirectory
    @Flag(name: .customLong("measure-setup"), help: "Also report setup_seconds: building the session again with the data already in memory (what each queued run pays).")
    var measureSetup = false

    func run() throws {
        MemoryPolicy.returnLargeBlocks()
        let parsed = try readSpec(spec, seed: seed)
        let library = DatasetLibrary(directory: datasetDir)
        var setupSeconds: Double?
        if measureSetup {
            _ = try FamilyRegistry.makeSession(spec: parsed, datasets: library)   // loads the data
            let t = Date()
            _ = try FamilyRegistry.makeSession(spec: parsed, datasets: library)
            setupSeconds = Date().timeIntervalSince(t)
        }
        let session = try FamilyRegistry.makeSession(spec: parsed, datasets: library)
        final class Quiet: TrainingObserver {
            func session(_ session: TrainingSession, emitted metrics: [MetricSample]) {}
            func sessionReachedCheckpoint(_ session: TrainingSession) throws {}
            func sessionShouldStop(_ session: TrainingSession) -> Bool { false }
        }
        let started = Date()
        _ = try session.run(observer: Quiet())
        var summary = session.summary()
        if case .object(var o) = summary {
            o["wall_seconds"] = .number((Date().timeIntervalSince(started) * 100).rounded() / 100)
            if let setupSeconds { o["setup_seconds"] = .number((setupSeconds * 1000).rounded() / 1000) }
            o["seed"] = .number(Double(parsed.seed))
            summary = .object(o)
        }
        print("SUMMARY " + String(decoding: summary.serialized(), as: UTF8.self))
    }
}
