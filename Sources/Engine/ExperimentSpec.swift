import Foundation

/// Upper bounds on every spec field that costs memory or time. Explicit and documented.
public struct SpecLimits: Sendable {
    public var maxLayers = 10              // entries of model.layers, input and output included
    public var maxUnitsPerLayer = 4096
    public var maxParameters = 20_000_000
    public var maxEpochs = 500
    public var maxBatchSize = 4096
    public var maxTotalSteps = 5_000_000
    public var maxTrainLimit = 60_000
    public var maxTestLimit = 10_000
    public init() {}
}

/// A validated, normalised training run specification (every default filled in).
public struct ExperimentSpec: Sendable, Equatable, Codable {
    public struct DataSpec: Sendable, Equatable, Codable {
        public var dataset: String
        public var trainLimit: Int?
        public var testLimit: Int?
        enum CodingKeys: String, CodingKey { case dataset, trainLimit = "train_limit", testLimit = "test_limit" }
    }

    public struct ProtocolSpec: Sendable, Equatable, Codable {
        public var kind: String
        public var epochs: Int
    }

    public enum Activation: String, Sendable, Codable, CaseIterable { case relu, tanh, sigmoid }

    public struct ModelSpec: Sendable, Equatable, Codable {
        public var kind: String
        public var layers: [Int]
        public var activation: Activation
    }

    public enum OptimizerKind: String, Sendable, Codable, CaseIterable { case sgd, adam }

    public struct OptimizerSpec: Sendable, Equatable, Codable {
        public var kind: OptimizerKind
        public var learningRate: Double
        public var batchSize: Int
        public var beta1: Double
        public var beta2: Double
        public var epsilon: Double
        enum CodingKeys: String, CodingKey {
            case kind, learningRate = "learning_rate", batchSize = "batch_size", beta1, beta2, epsilon
        }
    }

    public var name: String?
    public var seed: UInt64
    public var data: DataSpec
    public var `protocol`: ProtocolSpec
    public var model: ModelSpec
    public var optimizer: OptimizerSpec
    public var metricsEverySteps: Int
    public var checkpointEverySteps: Int

    enum CodingKeys: String, CodingKey {
        case name, seed, data, `protocol`, model, optimizer
        case metricsEverySteps = "metrics_every_steps", checkpointEverySteps = "checkpoint_every_steps"
    }

    /// Datasets the engine can read, with their input width and class count.
    public static let datasets: [String: (features: Int, classes: Int, train: Int, test: Int)] = [
        "fashion-mnist": (784, 10, 60_000, 10_000),
    ]

    /// Validates a submitted spec; throws the first field at fault.
    public static func parse(_ json: JSONValue, limits: SpecLimits = SpecLimits()) throws(SpecError) -> ExperimentSpec {
        var root = try FieldReader(json, path: "")
        let name: String? = root.raw("name") == nil ? nil : try root.string("name")
        let seed = try root.int("seed", default: 0, in: 0...Int(UInt32.max))

        var d = try FieldReader(root.object("data"), path: "data")
        let datasetName = try d.string("dataset", default: "fashion-mnist", oneOf: Array(datasets.keys).sorted())
        let ds = datasets[datasetName]!
        let trainLimit = try d.optionalInt("train_limit", in: 1...min(limits.maxTrainLimit, ds.train))
        let testLimit = try d.optionalInt("test_limit", in: 1...min(limits.maxTestLimit, ds.test))
        try d.rejectUnknown()

        var p = try FieldReader(root.object("protocol"), path: "protocol")
        let protocolKind = try p.string("kind", default: "single", oneOf: ["single"])
        let epochs = try p.int("epochs", default: 1, in: 1...limits.maxEpochs)
        try p.rejectUnknown()

        guard root.object["model"] != nil else { throw SpecError("model", "is required") }
        var m = try FieldReader(root.object("model"), path: "model")
        let modelKind = try m.string("kind", default: "mlp", oneOf: ["mlp"])
        let layers = try m.intArray("layers", count: 2...limits.maxLayers, each: 1...limits.maxUnitsPerLayer)
        let activationName = try m.string("activation", default: "relu", oneOf: Activation.allCases.map(\.rawValue))
        try m.rejectUnknown()
        if layers.first != ds.features {
            throw SpecError("model.layers[0]", "must equal the input width of \(datasetName) (\(ds.features)), got \(layers[0])")
        }
        if layers.last != ds.classes {
            throw SpecError("model.layers[\(layers.count - 1)]",
                            "must equal the class count of \(datasetName) (\(ds.classes)), got \(layers.last!)")
        }
        var parameters = 0
        for i in 0..<(layers.count - 1) { parameters += layers[i] * layers[i + 1] + layers[i + 1] }
        if parameters > limits.maxParameters {
            throw SpecError("model.layers", "has \(parameters) parameters; the limit is \(limits.maxParameters)")
        }

        var o = try FieldReader(root.object("optimizer"), path: "optimizer")
        let optKind = OptimizerKind(rawValue: try o.string("kind", default: "sgd", oneOf: OptimizerKind.allCases.map(\.rawValue)))!
        let lr = try o.double("learning_rate", default: optKind == .sgd ? 0.05 : 0.001, in: 0...10, openLower: true)
        let batch = try o.int("batch_size", default: 64, in: 1...limits.maxBatchSize)
        let beta1 = try o.double("beta1", default: 0.9, in: 0...0.999999)
        let beta2 = try o.double("beta2", default: 0.999, in: 0...0.99999999)
        let eps = try o.double("epsilon", default: 1e-8, in: 0...1, openLower: true)
        try o.rejectUnknown()

        let train = trainLimit ?? ds.train
        let stepsPerEpoch = (train + batch - 1) / batch
        if stepsPerEpoch * epochs > limits.maxTotalSteps {
            throw SpecError("protocol.epochs", "gives \(stepsPerEpoch * epochs) steps; the limit is \(limits.maxTotalSteps)")
        }
        let metricsEvery = try root.int("metrics_every_steps", default: max(1, min(100, stepsPerEpoch)), in: 1...1_000_000)
        let checkpointEvery = try root.int("checkpoint_every_steps", default: 1000, in: 1...10_000_000)
        try root.rejectUnknown()

        return ExperimentSpec(
            name: name, seed: UInt64(seed),
            data: DataSpec(dataset: datasetName, trainLimit: trainLimit, testLimit: testLimit),
            protocol: ProtocolSpec(kind: protocolKind, epochs: epochs),
            model: ModelSpec(kind: modelKind, layers: layers, activation: Activation(rawValue: activationName)!),
            optimizer: OptimizerSpec(kind: optKind, learningRate: lr, batchSize: batch, beta1: beta1, beta2: beta2, epsilon: eps),
            metricsEverySteps: metricsEvery, checkpointEverySteps: checkpointEvery)
    }

    /// Canonical JSON (sorted keys), as stored with the run.
    public func canonicalJSON() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }

    /// SHA-256 of the canonical JSON, hex.
    public var hash: String { SHA256.hex(canonicalJSON()) }

    /// Training samples per epoch after `train_limit`.
    public var trainCount: Int { data.trainLimit ?? Self.datasets[data.dataset]!.train }
    public var stepsPerEpoch: Int { (trainCount + optimizer.batchSize - 1) / optimizer.batchSize }
    public var totalSteps: Int { stepsPerEpoch * `protocol`.epochs }
}
