import XCTest
@testable import Engine

final class SpikingNetworkTests: XCTestCase {
    func snnSpec(_ snn: String, layers: String = "[784, 32, 10]", extra: String = "") throws -> ExperimentSpec {
        try parseSpec(#"{"seed": 3, "data": {"train_limit": 1280, "test_limit": 300}, "model": {"kind": "snn", "layers": "# + layers
            + #", "snn": "# + snn + #"}, "optimizer": {"learning_rate": 0.002}, "checkpoint_every_steps": 100000"# + extra + "}")
    }

    func run(_ spec: ExperimentSpec, stopAt: Int? = nil) throws -> (TrainingLoop<SpikingFamily>, RecordingObserver) {
        let (train, test) = try FashionMNIST.load()
        let t = TrainingLoop<SpikingFamily>(spec: spec, train: train, test: test)
        let o = RecordingObserver()
        o.stopAt = stopAt
        _ = try t.run(observer: o)
        return (t, o)
    }

    /// With a non-spiking readout the loss is smooth in the readout weights: BPTT through the
    /// leaky readout must match finite differences exactly (the hidden spikes do not depend on them).
    func testReadoutGradientsMatchFiniteDifferences() throws {
        for readout in ["mean", "max"] {
            let spec = try snnSpec(#"{"steps": 6, "readout": "\#(readout)", "tau_syn": 3}"#, layers: "[784, 12, 10]")
            let (train, test) = try FashionMNIST.load()
            let t = TrainingLoop<SpikingFamily>(spec: spec, train: train, test: test)
            let net = t.network
            let batch = 4
            let labels: [Int32] = [1, 0, 3, 9]
            t.family.pixelsForTesting(from: train, count: batch)
            t.family.encode(count: batch, stream: 5)
            func loss() -> Double {
                let scores = net.forward(batch: batch)
                return labels.withUnsafeBufferPointer { net.loss(scores: scores, labels: $0.baseAddress!).loss } / Double(batch)
            }
            _ = loss()
            net.backward()
            let w = net.weights[1], g = net.gradients[2]
            for i in [0, 5, 17, 60, 119] {
                let old = w[i]
                let h: Float = 1e-2
                w[i] = old + h; let up = loss()
                w[i] = old - h; let down = loss()
                w[i] = old
                XCTAssertEqual(Double(g[i]), (up - down) / Double(2 * h), accuracy: 1e-3 + 0.02 * abs(Double(g[i])), "\(readout) weight \(i)")
            }
        }
    }

    func testSurrogateGradientTrainingLearnsEveryConfiguration() throws {
        let configs = [#"{"steps": 10}"#, #"{"steps": 10, "readout": "mean", "neuron": "alif"}"#,
                       #"{"steps": 10, "readout": "max", "recurrent": true, "tau_syn": 5}"#,
                       #"{"steps": 10, "readout": "mean", "encoding": "latency", "reset": "zero"}"#]
        for c in configs {
            let (t, o) = try run(try snnSpec(c, extra: #", "metrics_every_steps": 5, "protocol": {"epochs": 2}"#))
            guard case .object(let s) = t.summary() else { return XCTFail() }
            XCTAssertGreaterThan(s["test_accuracy"]?.numberValue ?? 0, 0.3, "\(c): chance is 0.1")
            let losses = o.metrics.filter { $0.key == "train.loss" }.map(\.value)
            XCTAssertLessThan(losses.last!, losses.first!, c)
            XCTAssertTrue(o.metrics.contains { $0.key == "snn.spikes_per_sample.layer0" && $0.value > 0 }, c)
            XCTAssertTrue(o.metrics.contains { $0.key == "snn.synops_per_sample" && $0.value > 0 }, c)
        }
    }

    func testHeterogeneousTimeConstantsAreDrawnAndTrained() throws {
        let spec = try snnSpec(#"{"steps": 10, "heterogeneous_init": true, "tau_mem": 20, "tau_shape": 3, "train_neuron_parameters": true, "readout": "mean"}"#)
        let (train, test) = try FashionMNIST.load()
        let fresh = TrainingLoop<SpikingFamily>(spec: spec, train: train, test: test)
        let tau0 = fresh.network.timeConstants(layer: 0)
        let mean = tau0.reduce(0, +) / Double(tau0.count)
        XCTAssertEqual(mean, 20, accuracy: 6, "Gamma-distributed around tau_mem")
        XCTAssertGreaterThan(Set(tau0.map { ($0 * 1000).rounded() }).count, 20, "each neuron has its own τ")
        let theta0 = fresh.network.theta[0].array
        XCTAssertTrue(theta0.allSatisfy { $0 >= 0.8 && $0 <= 1.2 })
        let (trained, _) = try run(spec)
        XCTAssertNotEqual(trained.network.timeConstants(layer: 0), tau0, "τ is trained")
        XCTAssertNotEqual(trained.network.theta[0].array, theta0, "θ is trained")
        guard case .object(let s) = trained.summary(), case .array(let taus)? = s["time_constants"], case .object(let d)? = taus.first else { return XCTFail() }
        XCTAssertNotNil(d["median"]?.numberValue)
        XCTAssertGreaterThan(d["sd"]?.numberValue ?? 0, 0)
    }

    func testEncoders() throws {
        let (train, test) = try FashionMNIST.load()
        for encoding in ["rate", "latency"] {
            let spec = try snnSpec(#"{"steps": 20, "encoding": "\#(encoding)"}"#)
            let t = TrainingLoop<SpikingFamily>(spec: spec, train: train, test: test)
            t.family.pixelsForTesting(from: train, count: 8)
            t.family.encode(count: 8, stream: 1)
            let events = Int(t.network.eventRowStart.last!)
            let pixelSum = (0..<(8 * 784)).map { Double(train.inputs.pointer[$0]) }.reduce(0, +)
            if encoding == "rate" {
                XCTAssertEqual(Double(events) / 20, pixelSum, accuracy: pixelSum * 0.05, "Bernoulli(pixel) every step")
            } else {
                let bright = (0..<(8 * 784)).filter { train.inputs.pointer[$0] >= 0.2 }.count
                XCTAssertEqual(events, bright, "one spike per pixel above the threshold")
                // The brightest pixel of sample 0 spikes at step 0.
                let row0 = Array(t.network.eventIndices[Int(t.network.eventRowStart[0])..<Int(t.network.eventRowStart[1])])
                let brightest = (0..<784).max { train.inputs.pointer[$0] < train.inputs.pointer[$1] }!
                XCTAssertTrue(row0.contains(Int32(brightest)))
            }
        }
    }

    func testSpikingResumeIsBitForBit() throws {
        let spec = try snnSpec(#"{"steps": 8, "neuron": "alif", "recurrent": true, "heterogeneous_init": true, "train_neuron_parameters": true}"#,
                               extra: #", "metrics_every_steps": 3, "protocol": {"epochs": 2}, "neuromodulation": {"noradrenaline": {"targets": {"threshold": 0.1, "gain": 0.05}}}"#)
        let (ref, refObs) = try run(spec)
        let (train, test) = try FashionMNIST.load()
        let first = TrainingLoop<SpikingFamily>(spec: spec, train: train, test: test)
        let stopper = RecordingObserver()
        stopper.stopAt = 13
        XCTAssertEqual(try first.run(observer: stopper), .stopped)
        let resumed = TrainingLoop<SpikingFamily>(spec: spec, train: train, test: test)
        try resumed.restore(from: first.checkpoint())
        let rest = RecordingObserver()
        _ = try resumed.run(observer: rest)
        for (a, b) in zip(ref.network.parameters, resumed.network.parameters) { XCTAssertEqual(a.array, b.array) }
        let keep: (MetricSample) -> Bool = { $0.key != "train.samples_per_s" }
        XCTAssertEqual((stopper.metrics + rest.metrics).filter(keep), refObs.metrics.filter(keep))
    }

    /// `data.validation` holds out a share of the training images: they are never trained on,
    /// are scored each epoch as `val.*`, and rank the checkpoints.
    func testValidationSplitIsHeldOutAndScored() throws {
        let spec = try parseSpec(#"{"seed": 3, "data": {"train_limit": 1280, "test_limit": 300, "validation": 0.25}, "protocol": {"epochs": 2}, "model": {"kind": "snn", "layers": [784, 32, 10], "snn": {"steps": 8}}, "optimizer": {"learning_rate": 0.002}, "checkpoint_every_steps": 100000}"#)
        let (t, o) = try run(spec)
        let training = Set(t.family.task.trainIndices), held = Set(t.family.task.validationIndices)
        XCTAssertEqual(held.count, 320)
        XCTAssertEqual(training.count, 960)
        XCTAssertTrue(training.isDisjoint(with: held))
        XCTAssertEqual(t.schedule.stepsPerEpoch, [8], "960 images in batches of 128, the last one partial")
        XCTAssertEqual(o.metrics.filter { $0.key == "val.accuracy" }.count, 2, "once per epoch")
        XCTAssertEqual(t.family.selectionMetric, "val.accuracy")
        let summary = try XCTUnwrap(t.summary().objectValue)
        XCTAssertNotNil(summary["val_accuracy"]?.numberValue)
        XCTAssertEqual(summary["val_accuracy"]?.numberValue, o.metrics.last { $0.key == "val.accuracy" }?.value)
    }
}

final class EPropTests: XCTestCase {
    func spec(_ snn: String, train: Int = 1280, lr: Double = 0.002, epochs: Int = 2) throws -> ExperimentSpec {
        try parseSpec(#"{"seed": 4, "data": {"train_limit": \#(train), "test_limit": 300}, "model": {"kind": "snn", "layers": [784, 24, 10], "snn": "# + snn
            + #"}, "optimizer": {"learning_rate": \#(lr)}, "metrics_every_steps": 5, "checkpoint_every_steps": 100000, "protocol": {"epochs": \#(epochs)}}"#)
    }

    /// Without recurrence and with symmetric feedback, e-prop's eligibility-trace gradient is
    /// exactly BPTT's (reset not differentiated): the same numbers from a forward-in-time computation.
    func testEPropEqualsBPTTWithoutRecurrence() throws {
        let (train, test) = try FashionMNIST.load()
        let bptt = TrainingLoop<SpikingFamily>(spec: try spec(#"{"steps": 12, "readout": "mean"}"#), train: train, test: test)
        let eprop = TrainingLoop<SpikingFamily>(spec: try spec(#"{"steps": 12, "readout": "mean", "learning": "eprop"}"#), train: train, test: test)
        let labels: [Int32] = [3, 1, 4, 1, 5, 9]
        for t in [bptt, eprop] {
            t.family.pixelsForTesting(from: train, count: labels.count)
            t.family.encode(count: labels.count, stream: 11)
            let scores = t.network.forward(batch: labels.count)
            _ = labels.withUnsafeBufferPointer { t.network.loss(scores: scores, labels: $0.baseAddress!) }
            t.network.backward()
        }
        for k in 0..<4 {
            let a = bptt.network.gradients[k].array, b = eprop.network.gradients[k].array
            let scale = a.map(abs).max()!
            XCTAssertGreaterThan(scale, 0)
            for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 1e-4 * scale + 1e-7, "gradient \(k) entry \(i)") }
        }
    }

    func testEPropLearnsWithRecurrenceAndRandomFeedback() throws {
        let (train, test) = try FashionMNIST.load()
        // Random feedback learns once the forward weights align with it: more samples, a higher rate.
        for (snn, samples, lr, epochs) in [(#"{"steps": 10, "readout": "mean", "learning": "eprop", "recurrent": true}"#, 1280, 0.002, 2),
                                           (#"{"steps": 10, "readout": "mean", "learning": "eprop", "recurrent": true, "feedback": "random"}"#, 2560, 0.005, 4)] {
            let t = TrainingLoop<SpikingFamily>(spec: try spec(snn, train: samples, lr: lr, epochs: epochs), train: train, test: test)
            XCTAssertEqual(t.network.feedbackWeights != nil, snn.contains("random"))
            let o = RecordingObserver()
            _ = try t.run(observer: o)
            guard case .object(let s) = t.summary() else { return XCTFail() }
            XCTAssertGreaterThan(s["test_accuracy"]?.numberValue ?? 0, 0.4, "\(snn): chance is 0.1")
        }
    }

    func testEPropSpecLimits() {
        func field(_ snn: String, layers: String = "[784, 16, 10]") -> String? {
            do { _ = try parseSpec(#"{"model": {"kind": "snn", "layers": "# + layers + #", "snn": "# + snn + "}}"); return nil }
            catch let e as SpecError { return e.field } catch { return "?" }
        }
        XCTAssertEqual(field(#"{"learning": "eprop"}"#), "model.snn.readout")
        XCTAssertEqual(field(#"{"learning": "eprop", "readout": "mean", "neuron": "alif"}"#), "model.snn.neuron")
        XCTAssertEqual(field(#"{"learning": "eprop", "readout": "mean"}"#, layers: "[784, 16, 16, 10]"), "model.layers")
        XCTAssertEqual(field(#"{"learning": "eprop", "readout": "mean", "heterogeneous_init": true}"#), "model.snn.heterogeneous_init")
        XCTAssertNil(field(#"{"learning": "eprop", "readout": "mean", "recurrent": true}"#))
    }

    /// One simulated batch has an explicit size limit (steps × batch × widths), named by field.
    func testTheSimulatedBatchIsBounded() throws {
        func parse(_ steps: Int, batch: Int, hidden: Int = 256) throws -> ExperimentSpec {
            try parseSpec(#"{"model": {"kind": "snn", "layers": [784, \#(hidden), 10], "snn": {"steps": \#(steps)}}, "optimizer": {"batch_size": \#(batch)}}"#)
        }
        XCTAssertNoThrow(try parse(25, batch: 128))
        XCTAssertNoThrow(try parse(500, batch: 64))   // 500 × 256 (evaluated) × 1,050 = 134.4 M values
        XCTAssertThrowsError(try parse(500, batch: 4096)) { error in
            XCTAssertEqual((error as? SpecError)?.field, "model.snn.steps")
            XCTAssertTrue((error as? SpecError)?.description.contains("the limit is") ?? false, "\(error)")
        }
    }
}
