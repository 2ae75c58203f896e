import Foundation
import Support

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
    public var maxTrials = 1_000_000
    public var maxTimeSteps = 500
    /// A spiking network simulates a whole batch at once (evaluation batches hold at least 256
    /// samples): steps × batch × Σ layer widths values, each in several buffers (currents,
    /// membranes, spikes, their gradients, the input events and their changes: 16–20 bytes a
    /// value). 160 Mi values ≈ 3 GiB: 500 steps of a 784-256-10 network at batch ≤ 256 fit.
    public var maxSpikingSimulationValues = 160 << 20
    public init() {}
}

/// A validated, normalised training run specification (every default filled in).
public struct ExperimentSpec: Sendable, Equatable, Codable {
    public struct DataSpec: Sendable, Equatable, Codable {
        public var dataset: String
        public var trainLimit: Int?
        public var testLimit: Int?
        /// The fraction of each task's training images held out for validation (selection of
        /// couplings, λ and the best checkpoint happens there, never on test); nil: none.
        public var validation: Double?
        /// The uploaded data set's SHA-256 (recorded at submission; given by the client, a pin
        /// that must match). nil for the built-in data sets.
        public var sha256: String?
        /// `validation: "provided"`: validate on the uploaded data set's own x_val/y_val instead of
        /// holding out part of the training split.
        public var validationProvided = false
        /// Whether the run scores a validation split (held out, or provided).
        public var validates: Bool { validation != nil || validationProvided }
        enum CodingKeys: String, CodingKey { case dataset, trainLimit = "train_limit", testLimit = "test_limit", validation, sha256 }

        public init(dataset: String, trainLimit: Int?, testLimit: Int?, validation: Double?, sha256: String? = nil,
                    validationProvided: Bool = false) {
            self.dataset = dataset
            self.trainLimit = trainLimit
            self.testLimit = testLimit
            self.validation = validation
            self.sha256 = sha256
            self.validationProvided = validationProvided
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            dataset = try c.decode(String.self, forKey: .dataset)
            trainLimit = try c.decodeIfPresent(Int.self, forKey: .trainLimit)
            testLimit = try c.decodeIfPresent(Int.self, forKey: .testLimit)
            if let fraction = try? c.decodeIfPresent(Double.self, forKey: .validation) {
                validation = fraction
            } else {
                validationProvided = try c.decodeIfPresent(String.self, forKey: .validation) == "provided"
            }
            sha256 = try c.decodeIfPresent(String.self, forKey: .sha256)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(dataset, forKey: .dataset)
            try c.encodeIfPresent(trainLimit, forKey: .trainLimit)
            try c.encodeIfPresent(testLimit, forKey: .testLimit)
            if validationProvided { try c.encode("provided", forKey: .validation) } else { try c.encodeIfPresent(validation, forKey: .validation) }
            try c.encodeIfPresent(sha256, forKey: .sha256)
        }
    }

    /// What a spec needs to know of a data set to be checked: input width, classes, split sizes,
    /// and (for an uploaded one) its digest.
    public struct DatasetDescriptor: Sendable, Equatable {
        public var features: Int
        public var classes: Int
        public var train: Int
        public var test: Int
        public var sha256: String?
        /// One sample before flattening: [F], [H, W] or [T, F].
        public var sampleShape: [Int]
        /// Rows of the data set's own validation split (uploads with x_val/y_val); nil: none.
        public var validation: Int?
        public init(features: Int, classes: Int, train: Int, test: Int, sha256: String? = nil, sampleShape: [Int]? = nil,
                    validation: Int? = nil) {
            self.validation = validation
            self.features = features
            self.classes = classes
            self.train = train
            self.test = test
            self.sha256 = sha256
            self.sampleShape = sampleShape ?? [features]
        }
    }

    /// Looks up an uploaded data set (`ds_…`) by id; nil when there is none.
    public typealias DatasetCatalog = @Sendable (String) -> DatasetDescriptor?

    public enum Activation: String, Sendable, Codable, CaseIterable { case relu, tanh, sigmoid }

    public struct ModelSpec: Sendable, Equatable, Codable {
        /// `mlp`, `snn`, `rstdp` (the distal-reward neuron) or `action-values` (the bandit).
        public var kind: String
        /// Widths from input to output; empty for the bandit's action-value table.
        public var layers: [Int]
        /// Hidden units' activation (kind `mlp`; stored only there).
        public var activation: Activation
        /// The spiking network's neurons, encoder and readout (kind `snn`).
        public var snn: SpikingSpec?
        /// Streaming LDA's shrinkage (kind `slda`).
        public var slda: SLDASpec?
        /// The sparse code's activity and fan-in (kind `sparse`).
        public var sparse: SparseSpec?

        enum CodingKeys: String, CodingKey { case kind, layers, activation, snn, slda, sparse }

        public init(kind: String, layers: [Int], activation: Activation, snn: SpikingSpec?, slda: SLDASpec? = nil, sparse: SparseSpec? = nil) {
            self.kind = kind
            self.layers = layers
            self.activation = activation
            self.snn = snn
            self.slda = slda
            self.sparse = sparse
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            kind = try c.decode(String.self, forKey: .kind)
            layers = try c.decode([Int].self, forKey: .layers)
            activation = try c.decodeIfPresent(Activation.self, forKey: .activation) ?? .relu
            snn = try c.decodeIfPresent(SpikingSpec.self, forKey: .snn)
            slda = try c.decodeIfPresent(SLDASpec.self, forKey: .slda)
            sparse = try c.decodeIfPresent(SparseSpec.self, forKey: .sparse)
        }

        /// The model a protocol fixes (the spec names none, and the stored spec omits it): the
        /// distal-reward task's neuron, the bandit's action values, the intertemporal task's value
        /// table; nil when the spec chooses its model.
        static func fixed(for p: ProtocolSpec) -> ModelSpec? {
            switch p.kind {
            case .distalReward: return ModelSpec(kind: "rstdp", layers: [p.inputs, 1], activation: .relu, snn: nil)
            case .bandit: return ModelSpec(kind: "action-values", layers: [], activation: .relu, snn: nil)
            case .intertemporal: return ModelSpec(kind: "td-values", layers: [], activation: .relu, snn: nil)
            case .single, .split, .permuted, .reversal: return nil
            }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(kind, forKey: .kind)
            try c.encode(layers, forKey: .layers)
            if kind == "mlp" { try c.encode(activation, forKey: .activation) }
            try c.encodeIfPresent(snn, forKey: .snn)
            try c.encodeIfPresent(slda, forKey: .slda)
            try c.encodeIfPresent(sparse, forKey: .sparse)
        }
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

        public init(kind: OptimizerKind, learningRate: Double, batchSize: Int, beta1: Double, beta2: Double, epsilon: Double) {
            self.kind = kind
            self.learningRate = learningRate
            self.batchSize = batchSize
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
        }

        /// Adam's β₁, β₂ and ε are stored only for Adam (SGD does not use them; they read back as
        /// their defaults).
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            kind = try c.decode(OptimizerKind.self, forKey: .kind)
            learningRate = try c.decode(Double.self, forKey: .learningRate)
            batchSize = try c.decode(Int.self, forKey: .batchSize)
            beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? 0.9
            beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? 0.999
            epsilon = try c.decodeIfPresent(Double.self, forKey: .epsilon) ?? 1e-8
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(kind, forKey: .kind)
            try c.encode(learningRate, forKey: .learningRate)
            try c.encode(batchSize, forKey: .batchSize)
            if kind == .adam {
                try c.encode(beta1, forKey: .beta1)
                try c.encode(beta2, forKey: .beta2)
                try c.encode(epsilon, forKey: .epsilon)
            }
        }
    }

    public var name: String?
    public var seed: UInt64
    public var data: DataSpec
    public var `protocol`: ProtocolSpec
    public var model: ModelSpec
    public var optimizer: OptimizerSpec
    public var consolidation: ConsolidationSpec
    public var neuromodulation: NeuromodulationSpec
    /// Reward-modulated STDP parameters (distal_reward protocol).
    public var rstdp: RSTDPSpec?
    public var metricsEverySteps: Int
    public var checkpointEverySteps: Int
    /// Retries, runtime budget, checkpoint retention (nil in specs stored before it existed).
    public var execution: ExecutionSpec?
    /// A yoked control: the run replays another run's recorded effect trace (set by studies, never
    /// by a submitted spec; the source run is the run's `after_run`).
    public var replay: ReplaySpec?
    /// `execution`, or the defaults.
    public var executionPolicy: ExecutionSpec { execution ?? .standard }

    enum CodingKeys: String, CodingKey {
        case name, seed, data, `protocol`, model, optimizer, consolidation, neuromodulation, rstdp, execution, replay
        case metricsEverySteps = "metrics_every_steps", checkpointEverySteps = "checkpoint_every_steps"
    }

    /// Built-in data sets, with their input width, class count, sizes and sample shape.
    /// `spike-patterns` is generated in-process (``SpikePatterns``): classes that differ only in
    /// the timing of their spikes.
    public static let datasets: [String: (features: Int, classes: Int, train: Int, test: Int, shape: [Int])] = [
        "fashion-mnist": (784, 10, 60_000, 10_000, [28, 28]),
        SpikePatterns.name: (SpikePatterns.steps * SpikePatterns.channels, SpikePatterns.classes, SpikePatterns.trainCount,
                             SpikePatterns.testCount, [SpikePatterns.steps, SpikePatterns.channels]),
    ]

    /// Validates a submitted spec; throws the first field at fault. `catalog` resolves uploaded
    /// data sets (`data.dataset: "ds_…"`); without one only the built-in data sets are known.
    public static func parse(_ json: JSONValue, limits: SpecLimits = SpecLimits(),
                             catalog: DatasetCatalog = { _ in nil }) throws(SpecError) -> ExperimentSpec {
        var root = try FieldReader(json, path: "")
        let name: String? = root.raw("name") == nil ? nil : try root.string("name")
        let seed = try root.int("seed", default: 0, in: 0...Int(UInt32.max))
        let proto = try ProtocolSpec.parse(root.object("protocol"), limits: limits)

        var d = try FieldReader(root.object("data"), path: "data")
        let datasetName = try d.string("dataset", default: "fashion-mnist")
        let ds: DatasetDescriptor
        if let builtIn = datasets[datasetName] {
            ds = DatasetDescriptor(features: builtIn.features, classes: builtIn.classes, train: builtIn.train, test: builtIn.test,
                                   sampleShape: builtIn.shape)
        } else if datasetName.hasPrefix("ds_"), let uploaded = catalog(datasetName) {
            ds = uploaded
        } else {
            throw SpecError("data.dataset", "unknown data set \(datasetName.prefix(80)): use one of \(datasets.keys.sorted().joined(separator: ", ")) or the id of an uploaded data set (GET /v1/datasets)")
        }
        let pinned: String? = d.raw("sha256") == nil ? nil : try d.string("sha256")
        if let pinned {
            guard let actual = ds.sha256 else { throw SpecError("data.sha256", "only uploaded data sets have a digest to pin") }
            guard pinned.lowercased() == actual else { throw SpecError("data.sha256", "data set \(datasetName) has digest \(actual), not \(pinned.prefix(80))") }
        }
        var trainLimit = try d.optionalInt("train_limit", in: 1...min(limits.maxTrainLimit, ds.train))
        var testLimit = try d.optionalInt("test_limit", in: 1...min(limits.maxTestLimit, ds.test))
        if ds.sha256 != nil && proto.isReward {
            throw SpecError("data.dataset", "reward protocols generate their own trials; they take no data set")
        }
        if ds.sha256 != nil {
            // An uploaded data set's sizes are written into the stored spec, which then describes the run alone.
            if trainLimit == nil && ds.train > limits.maxTrainLimit {
                throw SpecError("data.train_limit", "data set \(datasetName) has \(ds.train) training rows; runs take at most \(limits.maxTrainLimit): set train_limit")
            }
            trainLimit = trainLimit ?? ds.train
            testLimit = testLimit ?? min(ds.test, limits.maxTestLimit)
        }
        var validation: Double?
        var validationProvided = false
        if case .string(let s)? = d.raw("validation") {
            guard s == "provided" else { throw SpecError("data.validation", "must be a fraction in (0, 0.5] or \"provided\", got \(s.prefix(40))") }
            guard let rows = ds.validation, rows > 0 else {
                throw SpecError("data.validation", "data set \(datasetName) has no validation split of its own (upload x_val and y_val), so \"provided\" cannot apply; give a fraction to hold out instead")
            }
            validationProvided = true
        } else if d.raw("validation") != nil {
            validation = try d.double("validation", in: 0...0.5, openLower: true)
        }
        try d.rejectUnknown()
        if proto.isReward && (trainLimit != nil || testLimit != nil || validation != nil || validationProvided) {
            throw SpecError("data", "reward protocols generate their own trials; remove train_limit/test_limit/validation")
        }

        if proto.kind == .split && 2 * proto.tasks > ds.classes {
            throw SpecError("protocol.tasks", "split tasks take 2 classes each; data set \(datasetName) has \(ds.classes) classes, enough for at most \(ds.classes / 2) tasks")
        }
        // The model's input and output widths follow from the protocol.
        let expectedIn: Int, expectedOut: Int, inputWhat: String, outputWhat: String
        switch proto.kind {
        case .reversal:
            (expectedIn, expectedOut) = (proto.stimuli, 2)
            (inputWhat, outputWhat) = ("the number of stimuli", "2 (go, no-go)")
        case .split where proto.scenario == .domainIncremental:
            (expectedIn, expectedOut) = (ds.features, 2)
            (inputWhat, outputWhat) = ("the input width of \(datasetName)", "2 in the domain-incremental scenario")
        default:
            (expectedIn, expectedOut) = (ds.features, ds.classes)
            (inputWhat, outputWhat) = ("the input width of \(datasetName)", "the class count of \(datasetName)")
        }
        let model: ModelSpec
        if let fixed = ModelSpec.fixed(for: proto) {
            if root.object["model"] != nil {
                let what: String
                switch proto.kind {
                case .distalReward: what = "the distal-reward task has a fixed network (inputs → one LIF neuron)"
                case .bandit: what = "the bandit learns one action value per arm"
                default: what = "the intertemporal task learns a table of state values by TD(λ)"
                }
                throw SpecError("model", "\(what); remove model")
            }
            model = fixed
        } else {
            guard root.object["model"] != nil else { throw SpecError("model", "is required") }
            var m = try FieldReader(root.object("model"), path: "model")
            let modelKind = try m.string("kind", default: "mlp", oneOf: ["mlp", "snn", "slda", "sparse"])
            let layers = try m.intArray("layers", count: 2...limits.maxLayers, each: 1...limits.maxUnitsPerLayer)
            var snn: SpikingSpec?
            var slda: SLDASpec?
            var sparse: SparseSpec?
            var activationName = "relu"
            if modelKind == "sparse" {
                guard proto.kind == .single || proto.kind == .split || proto.kind == .permuted else {
                    throw SpecError("model.kind", "the sparse code learns supervised protocols (single, split, permuted)")
                }
                guard layers.count == 3 else { throw SpecError("model.layers", "the sparse code has one code layer: give [inputs, code units, classes]") }
                sparse = try SparseSpec.parse(&m, inputs: layers[0])
                for section in ["neuromodulation", "consolidation"] where root.object[section] != nil {
                    throw SpecError(section, "the sparse code's dopamine gating is built in; remove \(section)")
                }
            } else if modelKind == "slda" {
                guard proto.kind == .single || proto.kind == .split || proto.kind == .permuted else {
                    throw SpecError("model.kind", "streaming LDA learns supervised protocols (single, split, permuted)")
                }
                guard layers.count == 2 else { throw SpecError("model.layers", "streaming LDA has no hidden layer: give [inputs, classes]") }
                slda = try SLDASpec.parse(&m)
                for section in ["neuromodulation", "consolidation"] where root.object[section] != nil {
                    throw SpecError(section, "streaming LDA has no gradient to modulate or consolidate; remove \(section)")
                }
            } else if modelKind == "snn" {
                guard proto.kind == .single else {
                    throw SpecError("model.kind", "spiking networks run the single protocol for now (not \(proto.kind.rawValue))")
                }
                guard layers.count >= 3 else { throw SpecError("model.layers", "a spiking network needs at least one hidden layer") }
                snn = try SpikingSpec.parse(&m, limits: limits)
                if snn!.learning == "eprop" && layers.count != 3 {
                    throw SpecError("model.layers", "e-prop here trains one hidden layer: give [inputs, hidden, classes]")
                }
                if snn!.recurrent && (snn!.steps * layers.dropFirst().dropLast().reduce(0, +)) > 2_000_000 {
                    throw SpecError("model.snn.steps", "recurrent layers × steps are too large")
                }
            } else {
                activationName = try m.string("activation", default: "relu", oneOf: Activation.allCases.map(\.rawValue))
            }
            try m.rejectUnknown()
            var expectedIn = expectedIn, inputWhat = inputWhat
            if let s = snn, s.encoding == .sequence {
                // A sequence feeds one time slice per step: [T, F] → F inputs over T steps.
                guard ds.sampleShape.count >= 2 else {
                    throw SpecError("model.snn.encoding", "sequence input needs samples shaped [T, F] (or [H, W], rows as steps); \(datasetName) has [\(ds.sampleShape.map(String.init).joined(separator: ", "))]")
                }
                let steps = ds.sampleShape.dropLast().reduce(1, *)
                guard s.steps == steps else {
                    throw SpecError("model.snn.steps", "must equal the sequence length of \(datasetName) (\(steps)) with sequence input, got \(s.steps)")
                }
                expectedIn = ds.sampleShape.last!
                inputWhat = "the channels per time step of \(datasetName)"
            }
            if layers.first != expectedIn {
                throw SpecError("model.layers[0]", "must equal \(inputWhat) (\(expectedIn)), got \(layers[0])")
            }
            if layers.last != expectedOut {
                throw SpecError("model.layers[\(layers.count - 1)]", "must equal \(outputWhat) (\(expectedOut)), got \(layers.last!)")
            }
            var parameters = 0
            for i in 0..<(layers.count - 1) { parameters += layers[i] * layers[i + 1] + layers[i + 1] }
            if parameters > limits.maxParameters {
                throw SpecError("model.layers", "has \(parameters) parameters; the limit is \(limits.maxParameters)")
            }
            model = ModelSpec(kind: modelKind, layers: layers, activation: Activation(rawValue: activationName)!, snn: snn, slda: slda, sparse: sparse)
        }

        var o = try FieldReader(root.object("optimizer"), path: "optimizer")
        let isSpiking = model.kind == "snn"
        let optKind = OptimizerKind(rawValue: try o.string("kind", default: isSpiking ? "adam" : "sgd", oneOf: OptimizerKind.allCases.map(\.rawValue)))!
        let defaultLR = proto.isReward ? 0.1 : (optKind == .sgd ? 0.05 : 0.001)
        let lr = try o.double("learning_rate", default: defaultLR, in: 0...10, openLower: true)
        let batch = try o.int("batch_size", default: proto.isReward ? 1 : (isSpiking ? 128 : 64), in: 1...limits.maxBatchSize)
        if proto.isReward && batch != 1 { throw SpecError("optimizer.batch_size", "reward tasks learn trial by trial; use 1") }
        if optKind != .adam, let adamOnly = ["beta1", "beta2", "epsilon"].first(where: { o.object[$0] != nil && o.object[$0] != .null }) {
            throw SpecError("optimizer.\(adamOnly)", "applies to adam only (optimizer.kind is \(optKind.rawValue))")
        }
        let beta1 = try o.double("beta1", default: 0.9, in: 0...0.999999)
        let beta2 = try o.double("beta2", default: 0.999, in: 0...0.99999999)
        let eps = try o.double("epsilon", default: 1e-8, in: 0...1, openLower: true)
        try o.rejectUnknown()
        if proto.kind == .distalReward && root.object["optimizer"] != nil {
            throw SpecError("optimizer", "the distal-reward task learns by reward-modulated STDP; set its parameters under rstdp")
        }
        if (proto.kind == .bandit || proto.kind == .intertemporal) && optKind != .sgd {
            throw SpecError("optimizer.kind", "the \(proto.kind == .bandit ? "bandit's action values learn by the delta rule" : "intertemporal task's values learn by TD(λ)"); use sgd")
        }

        let rstdp = try RSTDPSpec.parse(root.object("rstdp"), applies: proto.kind == .distalReward)
        if proto.kind == .distalReward && root.object["neuromodulation"] != nil {
            throw SpecError("neuromodulation", "in the distal-reward task dopamine is the reward itself (rstdp.reward, rstdp.tau_dopamine)")
        }
        let consolidation = try ConsolidationSpec.parse(root.object("consolidation"))
        if isSpiking && usesMLPOnlyMechanisms(root.object["neuromodulation"]) {
            throw SpecError("neuromodulation", "spiking networks take dopamine, noradrenaline, acetylcholine and serotonin channels (no gating or modulatory gate)")
        }
        if consolidation.kind != .none && !proto.isContinual {
            throw SpecError("consolidation.kind", "consolidation needs a task sequence (protocol split or permuted)")
        }
        let neuromodulation = try NeuromodulationSpec.parse(root.object("neuromodulation"), reward: proto.isReward)
        if neuromodulation.context.inference != nil && !proto.isContinual {
            throw SpecError("neuromodulation.context.inference", "infers contexts of a task sequence: use protocol split or permuted")
        }
        if neuromodulation.context.inference == nil && neuromodulation.context.gatingKeep != nil
            && !(proto.kind == .split && proto.scenario == .taskIncremental) {
            // The gate of a task is chosen by its identity, which only the task-incremental scenario gives at test time.
            throw SpecError("neuromodulation.context.gating_keep",
                            "context gating needs the task identity at test time: use protocol split with scenario task-incremental")
        }
        if proto.labelsTrick && model.kind != "mlp" {
            throw SpecError("protocol.labels_trick", "masks an MLP's softmax while it trains; \(model.kind) models have no such softmax to mask")
        }
        if proto.labelsTrick && neuromodulation.context.inference != nil {
            throw SpecError("protocol.labels_trick", "context inference gives each context its own output group already")
        }
        if proto.joint && consolidation.kind != .none {
            throw SpecError("consolidation.kind", "joint training is one task: there is nothing earlier to consolidate")
        }
        if proto.cumulative && neuromodulation.context.inference != nil {
            throw SpecError("neuromodulation.context.inference", "cumulative training mixes every earlier task into each new one: contexts would not separate")
        }
        if proto.joint && neuromodulation.context.inference != nil {
            throw SpecError("neuromodulation.context.inference", "joint training is one task: there is one context")
        }
        if neuromodulation.uncertaintyGain != nil && model.kind != "mlp" {
            throw SpecError("neuromodulation.uncertainty_gain", "scales an MLP's layers; \(model.kind) models have no such gain")
        }
        if neuromodulation.modulatoryGate != nil && model.layers.count < 3 {
            throw SpecError("neuromodulation.modulatory_gate", "gates the first hidden layer: model.layers needs one")
        }
        if neuromodulation.uses(.consolidation) && consolidation.kind == .none {
            throw SpecError("neuromodulation", "a channel targets consolidation but consolidation.kind is none")
        }
        if (proto.kind == .bandit || proto.kind == .intertemporal) && (neuromodulation.uses(.gain) || neuromodulation.uses(.threshold)) {
            throw SpecError("neuromodulation", "the \(proto.kind.rawValue) task has no hidden units: gain and threshold do not apply")
        }
        if proto.learner == "bayesian" && !neuromodulation.channels.isEmpty {
            throw SpecError("neuromodulation", "the Bayesian reference learner has no learning rate or temperature to modulate")
        }
        if neuromodulation.uses(.horizon) && proto.kind != .intertemporal {
            throw SpecError("neuromodulation", "horizon scales the discount horizon of TD learning: only the intertemporal protocol has one")
        }

        var spec = ExperimentSpec(
            name: name, seed: UInt64(seed),
            data: DataSpec(dataset: datasetName, trainLimit: trainLimit, testLimit: testLimit, validation: validation, sha256: ds.sha256,
                           validationProvided: validationProvided),
            protocol: proto, model: model,
            optimizer: OptimizerSpec(kind: optKind, learningRate: lr, batchSize: batch, beta1: beta1, beta2: beta2, epsilon: eps),
            consolidation: consolidation, neuromodulation: neuromodulation, rstdp: rstdp,
            metricsEverySteps: 1, checkpointEverySteps: 1)
        if let snn = model.snn {
            let values = snn.steps * max(batch, 256) * model.layers.reduce(0, +)
            if values > limits.maxSpikingSimulationValues {
                throw SpecError("model.snn.steps", "steps × batch size (at least 256, as evaluated) × the layers' widths is \(values) values to simulate at once; the limit is \(limits.maxSpikingSimulationValues): fewer steps, a smaller batch or narrower layers")
            }
        }
        if spec.totalSteps > limits.maxTotalSteps {
            throw SpecError(proto.isReward ? "protocol.trials" : "protocol.epochs",
                            "gives \(spec.totalSteps) steps; the limit is \(limits.maxTotalSteps)")
        }
        spec.metricsEverySteps = try root.int("metrics_every_steps", default: max(1, min(proto.isReward ? 50 : 100, spec.stepsPerEpoch)),
                                              in: 1...1_000_000)
        spec.checkpointEverySteps = try root.int("checkpoint_every_steps", default: 1000, in: 1...10_000_000)
        spec.execution = try ExecutionSpec.parse(root.object("execution"))
        try root.rejectUnknown()
        return spec
    }

    /// Canonical JSON (sorted keys), as stored with the run.
    public func canonicalJSON() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return try encoder.encode(self) } catch {
            // Every number of a parsed spec is finite and every field encodable.
            preconditionFailure("a validated spec failed to encode: \(error)")
        }
    }

    /// SHA-256 of the canonical JSON, hex.
    public var hash: String { SHA256.hex(canonicalJSON()) }

    /// Training samples per epoch after `train_limit` (single protocol).
    public var trainCount: Int { data.trainLimit ?? Self.datasets[data.dataset]?.train ?? 0 }
    public var stepsPerEpoch: Int {
        switch `protocol`.kind {
        case .single, .permuted: return (trainCount + optimizer.batchSize - 1) / optimizer.batchSize
        case .split: return (trainCount / 5 + optimizer.batchSize - 1) / optimizer.batchSize
        case .bandit, .reversal, .distalReward, .intertemporal: return `protocol`.trials
        }
    }

    /// Steps of the whole run. For split it is an estimate from `train_limit / 5` samples per task
    /// until the run starts (then the trainer reports the exact count).
    public var totalSteps: Int {
        switch `protocol`.kind {
        case .single: return stepsPerEpoch * `protocol`.epochs
        case .split, .permuted: return stepsPerEpoch * `protocol`.epochsPerTask * `protocol`.tasks
        case .bandit, .reversal, .distalReward, .intertemporal: return `protocol`.trials
        }
    }
}

/// The stored form shows what the run uses: the fixed networks of the bandit and the distal-reward
/// task, the latter's unused optimizer and a `none` consolidation are left out (they read back as
/// what `parse` fills in), so a stored spec can be submitted again as it is.
extension ExperimentSpec {
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let proto = try c.decode(ProtocolSpec.self, forKey: .protocol)
        let model: ModelSpec
        if let m = try c.decodeIfPresent(ModelSpec.self, forKey: .model) {
            model = m
        } else if let fixed = ModelSpec.fixed(for: proto) {
            model = fixed
        } else {
            throw DecodingError.keyNotFound(CodingKeys.model, .init(codingPath: c.codingPath, debugDescription: "model is required"))
        }
        let optimizer = try c.decodeIfPresent(OptimizerSpec.self, forKey: .optimizer)
            ?? OptimizerSpec(kind: .sgd, learningRate: 0.1, batchSize: 1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        self.init(name: try c.decodeIfPresent(String.self, forKey: .name), seed: try c.decode(UInt64.self, forKey: .seed),
                  data: try c.decode(DataSpec.self, forKey: .data), protocol: proto, model: model, optimizer: optimizer,
                  consolidation: try c.decodeIfPresent(ConsolidationSpec.self, forKey: .consolidation) ?? .none,
                  neuromodulation: try c.decode(NeuromodulationSpec.self, forKey: .neuromodulation),
                  rstdp: try c.decodeIfPresent(RSTDPSpec.self, forKey: .rstdp),
                  metricsEverySteps: try c.decode(Int.self, forKey: .metricsEverySteps),
                  checkpointEverySteps: try c.decode(Int.self, forKey: .checkpointEverySteps),
                  execution: try c.decodeIfPresent(ExecutionSpec.self, forKey: .execution),
                  replay: try c.decodeIfPresent(ReplaySpec.self, forKey: .replay))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(name, forKey: .name)
        try c.encode(seed, forKey: .seed)
        try c.encode(data, forKey: .data)
        try c.encode(`protocol`, forKey: .protocol)
        if ModelSpec.fixed(for: `protocol`) == nil { try c.encode(model, forKey: .model) }
        if `protocol`.kind != .distalReward { try c.encode(optimizer, forKey: .optimizer) }
        if consolidation != .none { try c.encode(consolidation, forKey: .consolidation) }
        try c.encode(neuromodulation, forKey: .neuromodulation)
        try c.encodeIfPresent(rstdp, forKey: .rstdp)
        try c.encode(metricsEverySteps, forKey: .metricsEverySteps)
        try c.encode(checkpointEverySteps, forKey: .checkpointEverySteps)
        try c.encodeIfPresent(execution, forKey: .execution)
        try c.encodeIfPresent(replay, forKey: .replay)
    }
}

/// How a yoked control replays its source run's effect trace.
public struct ReplaySpec: Sendable, Equatable, Codable {
    public enum Mode: String, Sendable, Codable, CaseIterable {
        /// The same per-step effects in a seeded random order.
        case shuffled
        /// Every step at the trace's mean of each effect.
        case mean
    }
    public var mode: Mode
    /// Seeds the shuffle.
    public var seed: UInt64
    public init(mode: Mode, seed: UInt64) {
        self.mode = mode
        self.seed = seed
    }

    /// `trace` as this control applies it.
    public func apply(to trace: EffectTrace) -> EffectTrace {
        switch mode {
        case .shuffled: return trace.shuffled(seed: seed)
        case .mean: return trace.constantMean()
        }
    }
}

/// The build's version, recorded with study results.
public enum EngineInfo {
    public static let version = "0.10.0"
}

/// Context gating and the modulatory gate are MLP mechanisms.
private func usesMLPOnlyMechanisms(_ neuromodulation: JSONValue?) -> Bool {
    guard case .object(let o)? = neuromodulation else { return false }
    if o["modulatory_gate"] != nil { return true }
    if case .object(let c)? = o["context"], c["gating_keep"] != nil { return true }
    return false
}
