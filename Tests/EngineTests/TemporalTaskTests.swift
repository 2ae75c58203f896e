import XCTest
@testable import Engine

/// The temporal tasks: the built-in spike-pattern task carries its class in spike timing only;
/// sequence input feeds one time slice per step (events exactly, analog values as a rate code);
/// a recurrent spiking network with a max-over-time readout learns both tasks above chance; specs
/// are checked against the sequence's shape.
final class TemporalTaskTests: XCTestCase {
    func testSpikePatternsDifferOnlyInTiming() {
        let (train, test) = SpikePatterns.make()
        XCTAssertEqual(train.count, SpikePatterns.trainCount)
        XCTAssertEqual(test.count, SpikePatterns.testCount)
        XCTAssertEqual(train.sampleShape, [SpikePatterns.steps, SpikePatterns.channels])
        let T = SpikePatterns.steps, F = SpikePatterns.channels, C = SpikePatterns.classes
        // Per-channel spike counts and mean spike times, per sample.
        func features(_ d: Dataset, _ i: Int) -> (counts: [Float], times: [Float]) {
            var counts = [Float](repeating: 0, count: F), times = [Float](repeating: 0, count: F)
            let row = d.inputs.pointer + i * d.features
            for t in 0..<T { for j in 0..<F where row[t * F + j] == 1 { counts[j] += 1; times[j] += Float(t) } }
            for j in 0..<F where counts[j] > 0 { times[j] /= counts[j] }
            return (counts, times)
        }
        // Nearest class mean, fitted on train, scored on test: by counts (near chance) and by timing.
        func accuracy(_ pick: ((counts: [Float], times: [Float])) -> [Float]) -> Double {
            var means = [[Float]](repeating: [Float](repeating: 0, count: F), count: C)
            var n = [Float](repeating: 0, count: C)
            for i in 0..<train.count {
                let c = Int(train.labels[i]), v = pick(features(train, i))
                for j in 0..<F { means[c][j] += v[j] }
                n[c] += 1
            }
            for c in 0..<C { for j in 0..<F { means[c][j] /= n[c] } }
            var right = 0
            for i in 0..<test.count {
                let v = pick(features(test, i))
                let best = (0..<C).min { a, b in
                    zip(v, means[a]).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } < zip(v, means[b]).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
                }!
                if best == Int(test.labels[i]) { right += 1 }
            }
            return Double(right) / Double(test.count)
        }
        let byCounts = accuracy(\.counts), byTiming = accuracy(\.times)
        XCTAssertLessThan(byCounts, 0.2, "spike counts carry (almost) no class information: \(byCounts)")
        XCTAssertGreaterThan(byTiming, 0.9, "spike timing does: \(byTiming)")
        // The same data for every run.
        let again = SpikePatterns.make()
        XCTAssertEqual(Array(UnsafeBufferPointer(start: again.train.inputs.pointer, count: 5000)),
                       Array(UnsafeBufferPointer(start: train.inputs.pointer, count: 5000)))
    }

    func testSequenceInputFeedsOneSlicePerStep() throws {
        // Binary data: exactly its events, slice t at step t.
        let T = 3, F = 4
        let samples: [Float] = [1, 0, 0, 1,  0, 0, 0, 0,  0, 1, 1, 0,     // sample 0
                                0, 0, 0, 0,  1, 1, 1, 1,  0, 0, 1, 0]     // sample 1
        var indices: [Int32] = [], starts: [Int32] = []
        samples.withUnsafeBufferPointer {
            SequenceCode.encode($0.baseAddress!, count: 2, width: T * F, steps: T, channels: F, indices: &indices, starts: &starts) {
                XCTFail("binary values draw nothing"); return 0
            }
        }
        starts.append(Int32(indices.count))
        let rows = (0..<(T * 2)).map { r in Array(indices[Int(starts[r])..<Int(starts[r + 1])]) }
        XCTAssertEqual(rows, [[0, 3], [], [], [0, 1, 2, 3], [1, 2], [2]], "time-major: (t0,b0), (t0,b1), (t1,b0), …")
        // Analog values: a rate code within each slice.
        var rng = RandomSource(seed: 9)
        let analog = [Float](repeating: 0.25, count: 1000)
        var ix: [Int32] = [], st: [Int32] = []
        analog.withUnsafeBufferPointer {
            SequenceCode.encode($0.baseAddress!, count: 1, width: 1000, steps: 10, channels: 100, indices: &ix, starts: &st) { rng.unitFloat() }
        }
        XCTAssertEqual(Double(ix.count) / 1000, 0.25, accuracy: 0.04)
    }

    func testSpecsAreCheckedAgainstTheSequenceShape() throws {
        func error(_ snn: String, layers: String, dataset: String = "spike-patterns") -> String? {
            do {
                _ = try parseSpec(#"{"data": {"dataset": "\#(dataset)"}, "model": {"kind": "snn", "layers": \#(layers), "snn": \#(snn)}}"#)
                return nil
            } catch { return (error as? SpecError)?.field }
        }
        XCTAssertNil(error(#"{"steps": 50, "encoding": "sequence"}"#, layers: "[40, 16, 10]"))
        XCTAssertEqual(error(#"{"steps": 25, "encoding": "sequence"}"#, layers: "[40, 16, 10]"), "model.snn.steps")
        XCTAssertEqual(error(#"{"steps": 50, "encoding": "sequence"}"#, layers: "[2000, 16, 10]"), "model.layers[0]")
        XCTAssertNil(error(#"{"steps": 28, "encoding": "sequence"}"#, layers: "[28, 16, 10]", dataset: "fashion-mnist"), "rows as time steps")
        XCTAssertNil(error(#"{"steps": 10}"#, layers: "[2000, 16, 10]"), "flattened, rate-coded")
    }

    /// A recurrent LIF network with synaptic current and a max-over-time readout learns the
    /// spike-pattern task (chance 0.1) and sequential Fashion-MNIST; its checkpoint serves a whole
    /// sequence per row, answering as the trained network does.
    func testARecurrentNetworkLearnsBothTemporalTasksAndServes() throws {
        for (dataset, steps, inputs, minimum) in [("spike-patterns", 50, 40, 0.3), ("fashion-mnist", 28, 28, 0.4)] {
            let spec = try parseSpec(#"{"seed": 2, "data": {"dataset": "\#(dataset)", "train_limit": 1500, "test_limit": 300}, "model": {"kind": "snn", "layers": [\#(inputs), 48, 10], "snn": {"steps": \#(steps), "encoding": "sequence", "readout": "max", "recurrent": true, "tau_syn": 5}}, "optimizer": {"learning_rate": 0.005, "batch_size": 64}, "protocol": {"epochs": 4}, "checkpoint_every_steps": 100000}"#)
            let data = try FashionMNIST.library.load(dataset)
            let loop = TrainingLoop<SpikingFamily>(spec: spec, train: data.train, test: data.test)
            _ = try loop.run(observer: RecordingObserver())
            let accuracy = try XCTUnwrap(loop.summary().objectValue?["test_accuracy"]?.numberValue)
            XCTAssertGreaterThan(accuracy, minimum, dataset)
            // Served: one row = T × F values.
            let file = try Safetensors.decode(loop.checkpoint(extraMetadata: [:]))
            let served = try SpikingServable(spec: spec, file: file)
            let row = Array(UnsafeBufferPointer(start: data.test.inputs.pointer, count: data.test.features))
            let p = served.forward([row], task: nil)[0]
            XCTAssertEqual(p.count, 10)
            XCTAssertEqual(Double(p.reduce(0, +)), 1, accuracy: 1e-4)
            XCTAssertEqual(served.forward([row], task: nil)[0], p, "the same sequence, the same answer")
        }
    }

    /// Bounds on τ: checked in the spec, applied to the initial draws and after every update, and
    /// the share of neurons at the upper bound reported.
    func testTauBoundsHoldThroughTraining() throws {
        func field(_ snn: String) -> String? {
            do { _ = try parseSpec(#"{"data": {"dataset": "spike-patterns"}, "model": {"kind": "snn", "layers": [40, 16, 10], "snn": \#(snn)}}"#); return nil }
            catch { return (error as? SpecError)?.field }
        }
        XCTAssertEqual(field(#"{"steps": 50, "encoding": "sequence", "train_neuron_parameters": true, "tau_min": 10, "tau_max": 5}"#), "model.snn.tau_max")
        XCTAssertEqual(field(#"{"steps": 50, "encoding": "sequence", "tau_max": 50}"#), "model.snn.tau_max", "nothing to bound")
        XCTAssertEqual(field(#"{"steps": 50, "encoding": "sequence", "heterogeneous_init": true, "tau_min": 20000}"#), "model.snn.tau_min",
                       "a lower bound above the default upper one (review finding: the β range trapped)")
        let spec = try parseSpec(#"{"seed": 4, "data": {"dataset": "spike-patterns", "train_limit": 640, "test_limit": 100}, "model": {"kind": "snn", "layers": [40, 32, 10], "snn": {"steps": 50, "encoding": "sequence", "readout": "max", "recurrent": true, "tau_syn": 5, "heterogeneous_init": true, "train_neuron_parameters": true, "tau_min": 4, "tau_max": 30}}, "optimizer": {"learning_rate": 0.05, "batch_size": 64}, "protocol": {"epochs": 2}, "checkpoint_every_steps": 100000}"#)
        let data = try FashionMNIST.library.load("spike-patterns")
        let loop = TrainingLoop<SpikingFamily>(spec: spec, train: data.train, test: data.test)
        let initial = loop.network.timeConstants(layer: 0)
        XCTAssertTrue(initial.allSatisfy { $0 >= 4 * 0.999 && $0 <= 30 * 1.001 }, "Gamma draws clamped: \(initial)")
        XCTAssertGreaterThan(Set(initial).count, 5, "still heterogeneous")
        _ = try loop.run(observer: RecordingObserver())
        let trained = loop.network.timeConstants(layer: 0)
        XCTAssertTrue(trained.allSatisfy { $0 >= 4 * 0.999 && $0 <= 30 * 1.001 }, "\(trained)")
        XCTAssertNotEqual(trained, initial, "τ was trained (a large learning rate pushes some to the bounds)")
        let stats = try XCTUnwrap(loop.summary().objectValue?["time_constants"]?.arrayValue?.first?.objectValue)
        let share = try XCTUnwrap(stats["at_upper_bound"]?.numberValue)
        let top = Float(exp(-1.0 / 30))
        XCTAssertEqual(share, Double(loop.network.beta[0].array.filter { $0 >= top }.count) / 32, accuracy: 1e-12)
    }
}

