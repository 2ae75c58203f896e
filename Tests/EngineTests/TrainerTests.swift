import Support
import XCTest
@testable import Engine

/// Loads the real Fashion-MNIST files once (the Debian package dataset-fashion-mnist).
enum FashionMNIST {
    static let library = DatasetLibrary(directory: ProcessInfo.processInfo.environment["NEUROMOD_DATASET_DIR"]
                                        ?? DatasetLibrary.defaultFashionMNISTDirectory)
    static func load() throws -> (train: Dataset, test: Dataset) { try library.load("fashion-mnist") }
}

/// Records what the trainer reports; can stop after a given step.
final class RecordingObserver: TrainingObserver {
    var metrics: [MetricSample] = []
    var checkpoints: [(step: Int, data: Data)] = []
    var stopAt: Int?
    func session(_ session: TrainingSession, emitted metrics: [MetricSample]) { self.metrics += metrics }
    func sessionReachedCheckpoint(_ session: TrainingSession) throws { checkpoints.append((session.step, session.checkpoint())) }
    func sessionShouldStop(_ session: TrainingSession) -> Bool { stopAt.map { session.step >= $0 } ?? false }
}

final class TrainerTests: XCTestCase {
    func spec(_ extra: String = "", optimizer: String = #"{"kind":"sgd"}"#) throws -> ExperimentSpec {
        try ExperimentSpec.parse(JSONValue.parse(Data("""
            {"seed": 5, "data": {"train_limit": 3000, "test_limit": 1000}, "model": {"layers": [784, 64, 10]},
             "optimizer": \(optimizer), "protocol": {"epochs": 2}, "checkpoint_every_steps": 20 \(extra)}
            """.utf8))!)
    }

    func testIDXLoaderReadsFashionMNIST() throws {
        let (train, test) = try FashionMNIST.load()
        XCTAssertEqual(train.count, 60_000)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(train.features, 784)
        XCTAssertEqual(Set(train.labels), Set(0..<10))
        XCTAssertLessThanOrEqual(train.inputs.array.max()!, 1)
        XCTAssertGreaterThanOrEqual(train.inputs.array.min()!, 0)
    }

    func testMissingDatasetGivesAClearError() {
        XCTAssertThrowsError(try DatasetLibrary(directory: "/nonexistent").load("fashion-mnist")) { error in
            XCTAssertTrue("\(error)".contains("dataset-fashion-mnist"), "\(error)")
        }
    }

    func testMLPLearnsFashionMNISTSlice() throws {
        let (train, test) = try FashionMNIST.load()
        for opt in [#"{"kind":"sgd"}"#, #"{"kind":"adam","learning_rate":0.002}"#] {
            let trainer = TrainingLoop<MLPFamily>(spec: try spec(optimizer: opt), train: train, test: test)
            let observer = RecordingObserver()
            XCTAssertEqual(try trainer.run(observer: observer), .completed)
            let acc = observer.metrics.filter { $0.key == "test.accuracy" }.map(\.value)
            XCTAssertEqual(acc.count, 2)
            XCTAssertGreaterThan(acc.last!, 0.7, "optimizer \(opt)")
            let losses = observer.metrics.filter { $0.key == "epoch.train_loss" }.map(\.value)
            XCTAssertLessThan(losses[1], losses[0])
            XCTAssertEqual(observer.checkpoints.last?.step, trainer.totalSteps, "a final checkpoint is written")
        }
    }

    func testSameSeedGivesIdenticalWeights() throws {
        let (train, test) = try FashionMNIST.load()
        let a = TrainingLoop<MLPFamily>(spec: try spec(), train: train, test: test)
        let b = TrainingLoop<MLPFamily>(spec: try spec(), train: train, test: test)
        _ = try a.run(observer: RecordingObserver())
        _ = try b.run(observer: RecordingObserver())
        XCTAssertEqual(a.model.weights[0].array, b.model.weights[0].array)
        var other = try spec()
        other.seed = 6
        let c = TrainingLoop<MLPFamily>(spec: other, train: train, test: test)
        XCTAssertNotEqual(a.model.weights[0].array, c.model.weights[0].array)
    }

    /// Stopping, checkpointing and resuming in a fresh trainer ends bit-for-bit where an
    /// uninterrupted run ends, metrics included — for SGD and for Adam.
    func testResumeFromCheckpointIsBitForBit() throws {
        let (train, test) = try FashionMNIST.load()
        for opt in [#"{"kind":"sgd"}"#, #"{"kind":"adam"}"#] {
            let s = try spec(#", "metrics_every_steps": 7"#, optimizer: opt)
            let reference = TrainingLoop<MLPFamily>(spec: s, train: train, test: test)
            let refObserver = RecordingObserver()
            _ = try reference.run(observer: refObserver)

            let first = TrainingLoop<MLPFamily>(spec: s, train: train, test: test)
            let stopper = RecordingObserver()
            stopper.stopAt = 53   // mid-epoch, between checkpoints and metric windows
            XCTAssertEqual(try first.run(observer: stopper), .stopped)
            let saved = first.checkpoint()
            let resumed = TrainingLoop<MLPFamily>(spec: s, train: train, test: test)
            try resumed.restore(from: saved)
            XCTAssertEqual(resumed.step, 53)
            let rest = RecordingObserver()
            XCTAssertEqual(try resumed.run(observer: rest), .completed)
            for l in 0..<reference.model.layerCount {
                XCTAssertEqual(reference.model.weights[l].array, resumed.model.weights[l].array, "\(opt) layer \(l)")
                XCTAssertEqual(reference.model.biases[l].array, resumed.model.biases[l].array)
            }
            let deterministic: (MetricSample) -> Bool = { $0.key != "train.samples_per_s" }
            XCTAssertEqual((stopper.metrics + rest.metrics).filter(deterministic), refObserver.metrics.filter(deterministic))
        }
    }

    func testRestoreRefusesACheckpointOfAnotherSpec() throws {
        let (train, test) = try FashionMNIST.load()
        let a = TrainingLoop<MLPFamily>(spec: try spec(), train: train, test: test)
        var other = try spec()
        other.seed = 99
        let b = TrainingLoop<MLPFamily>(spec: other, train: train, test: test)
        XCTAssertThrowsError(try b.restore(from: a.checkpoint()))
    }

    /// Backpropagation matches finite differences on a tiny network (via one SGD step: ΔW = −lr·∇W).
    func testGradientsMatchFiniteDifferences() throws {
        var rng = RandomSource(seed: 11)
        for activation in ExperimentSpec.Activation.allCases {
            let sizes = [5, 4, 3]
            let model = MLP(sizes: sizes, activation: activation, rng: &rng)
            let batch = 6
            let inputs = (0..<(batch * 5)).map { _ in Float(rng.uniform()) }
            let labels: [Int32] = (0..<batch).map { Int32($0 % 3) }
            func loss() -> Double {
                let x = model.inputBuffer(batch: batch)
                for i in 0..<inputs.count { x[i] = inputs[i] }
                let p = model.forward(batch: batch)
                return (0..<batch).reduce(0.0) { $0 - log(Double(p[$1 * 3 + Int(labels[$1])])) } / Double(batch)
            }
            // Numerical gradient of a few weights of each layer.
            var numeric: [(Int, Int, Double)] = []
            for l in 0..<2 {
                for i in [0, 3, 7] {
                    let w = model.weights[l]
                    let old = w[i]
                    let h: Float = 1e-2
                    w[i] = old + h; let up = loss()
                    w[i] = old - h; let down = loss()
                    w[i] = old
                    numeric.append((l, i, (up - down) / Double(2 * h)))
                }
            }
            let before = model.weights.map(\.array)
            let lr: Float = 1e-3
            let opt = Optimizer(spec: .init(kind: .sgd, learningRate: Double(lr), batchSize: batch, beta1: 0.9, beta2: 0.999, epsilon: 1e-8), sizes: sizes)
            let x = model.inputBuffer(batch: batch)
            for i in 0..<inputs.count { x[i] = inputs[i] }
            _ = labels.withUnsafeBufferPointer { model.trainStep(batch: batch, labels: $0.baseAddress!, optimizer: opt) }
            for (l, i, g) in numeric {
                let analytic = Double(before[l][i] - model.weights[l][i]) / Double(lr)
                XCTAssertEqual(analytic, g, accuracy: 2e-3 + 0.02 * abs(g), "\(activation) layer \(l) weight \(i)")
            }
        }
    }
}
