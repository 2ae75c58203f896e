import ArgumentParser
import Foundation
import Engine

/// Times the engine alone (no HTTP, no SQLite), for BENCHMARKS.md.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an MLP on Fashion-MNIST in-process and print training samples/s (last line: RESULT {json}).")

    @Option(help: "Hidden layer sizes, comma-separated.") var hidden: String = "256"
    @Option(help: "Epochs.") var epochs: Int = 1
    @Option(help: "Minibatch size.") var batch: Int = 64
    @Option(help: "sgd or adam.") var optimizer: String = "sgd"
    @Option(help: "Learning rate (default 0.05 for sgd, 0.001 for adam).") var lr: Double?
    @Option(help: "Seed.") var seed: Int = 0
    @Option(name: .customLong("dataset-dir"), help: "Fashion-MNIST folder.") var datasetDir: String = DatasetLibrary.defaultFashionMNISTDirectory

    func run() throws {
        let hiddenSizes = hidden.split(separator: ",").compactMap { Int($0) }
        let layers = [784] + hiddenSizes + [10]
        var opt: [String: JSONValue] = ["kind": .string(optimizer), "batch_size": .number(Double(batch))]
        if let lr { opt["learning_rate"] = .number(lr) }
        let json = JSONValue.object([
            "seed": .number(Double(seed)),
            "model": .object(["layers": .array(layers.map { .number(Double($0)) })]),
            "optimizer": .object(opt),
            "protocol": .object(["epochs": .number(Double(epochs))]),
            "checkpoint_every_steps": .number(10_000_000),
            "metrics_every_steps": .number(1_000_000),
        ])
        let spec = try ExperimentSpec.parse(json)
        let (train, test) = try DatasetLibrary(directory: datasetDir).load("fashion-mnist")
        let trainer = Trainer(spec: spec, train: train, test: test)
        let observer = EpochTimer(stepsPerEpoch: spec.stepsPerEpoch, samples: spec.trainCount)
        _ = try trainer.run(observer: observer)
        observer.finish(epochs: epochs)
        let rates = observer.epochRates
        let (_, acc) = trainer.evaluate(trainer.test)
        for (i, r) in rates.enumerated() { print(String(format: "epoch %d: %.0f samples/s", i + 1, r)) }
        let sorted = rates.sorted()
        let result: [String: JSONValue] = [
            "engine": .string("neuromod"), "layers": .array(layers.map { .number(Double($0)) }),
            "batch": .number(Double(batch)), "optimizer": .string(optimizer), "epochs": .number(Double(epochs)),
            "train_samples_per_s_epoch1": .number((rates.first ?? 0).rounded()),
            "train_samples_per_s_median": .number(sorted[sorted.count / 2].rounded()),
            "test_acc": .number((acc * 10000).rounded() / 10000),
        ]
        let data = try JSONEncoder().encode(JSONValue.object(result))
        print("RESULT " + String(decoding: data, as: UTF8.self))
    }
}

/// Measures each epoch's wall time from the trainer's callbacks (evaluation excluded).
final class EpochTimer: TrainingObserver {
    let stepsPerEpoch: Int
    let samples: Int
    var epochStart = Date()
    var epochRates: [Double] = []
    var trainingTime = 0.0

    init(stepsPerEpoch: Int, samples: Int) {
        self.stepsPerEpoch = stepsPerEpoch
        self.samples = samples
    }

    func finish(epochs: Int) {
        if epochRates.count < epochs { epochRates.append(Double(samples) / trainingTime) }
    }

    func trainer(_ trainer: Trainer, emitted metrics: [MetricSample]) {}
    func trainerReachedCheckpoint(_ trainer: Trainer) throws {}
    func trainerShouldStop(_ trainer: Trainer) -> Bool {
        if trainer.step % stepsPerEpoch == 0 {
            if trainer.step > 0 {
                // Evaluation ran inside the last step's callbacks; it is excluded by restarting the clock after it.
                epochRates.append(Double(samples) / trainingTime)
            }
            trainingTime = 0
        } else {
            trainingTime += Date().timeIntervalSince(epochStart)
        }
        epochStart = Date()
        return false
    }
}
