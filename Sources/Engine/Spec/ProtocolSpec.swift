import Foundation
import Support

/// What the network is trained on, in what order: one task, a sequence of tasks, or a reward task.
public struct ProtocolSpec: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// All of the dataset, `epochs` times.
        case single
        /// Split Fashion-MNIST: 5 tasks of 2 classes each ({0,1}, {2,3}, …).
        case split
        /// Permuted Fashion-MNIST: `tasks` tasks, each with its own fixed (seeded) pixel permutation.
        case permuted
        /// A non-stationary multi-armed bandit, learned from reward prediction errors.
        case bandit
        /// A Go/No-Go task whose contingencies flip every `reverse_every` trials.
        case reversal
        /// Izhikevich's distal-reward task: `inputs` Poisson inputs drive one leaky
        /// integrate-and-fire neuron; when input 0 fires and the neuron follows within 5 steps,
        /// a reward arrives 20–40 steps later. Learned by reward-modulated STDP (`trials` = steps).
        case distalReward = "distal_reward"
        /// Intertemporal choice: each trial offers a smaller reward after one step or a larger one
        /// after a delay drawn from `delays`; learned by TD(λ) with discount `discount`, whose
        /// horizon serotonin can scale (`targets.horizon`).
        case intertemporal
    }

    /// How tasks share the output layer (van de Ven & Tolias, 2019).
    public enum Scenario: String, Sendable, Codable, CaseIterable {
        /// The task is known: the softmax runs over that task's classes only (multi-head).
        case taskIncremental = "task-incremental"
        /// The task is unknown and need not be inferred: one 2-way head (label = class mod 2).
        case domainIncremental = "domain-incremental"
        /// The task must be inferred: one head over every class seen.
        case classIncremental = "class-incremental"
    }

    public var kind: Kind
    /// single: passes over the data.
    public var epochs: Int
    /// split (always 5) and permuted (2–20).
    public var tasks: Int
    public var scenario: Scenario?
    public var epochsPerTask: Int
    // Reward tasks.
    public var trials: Int
    /// bandit: number of arms.
    public var arms: Int
    /// bandit: trials between changes of the reward probabilities.
    public var changeEvery: Int
    /// bandit: `redraw` (new probabilities at each change) or `drift` (Gaussian random walk every trial).
    public var change: String
    public var driftSD: Double
    /// bandit: `delta` (the delta rule with softmax choice, which neuromodulators modulate) or
    /// `bayesian` (exact change-point inference with Thompson sampling: the normative reference).
    public var learner: String = "delta"
    /// reversal: trials between contingency reversals; number of stimuli (half are "go").
    public var reverseEvery: Int
    public var stimuli: Int
    /// Reward tasks: the softmax temperature of action selection before modulation.
    public var temperature: Double
    /// intertemporal: the delays (steps) a larger-later offer can carry, the two rewards, the
    /// discount γ per step before modulation, and the eligibility-trace decay λ.
    public var delays: [Int] = []
    public var smallReward: Double = 1
    public var largeReward: Double = 4
    public var discount: Double = 0.5
    public var traceDecay: Double = 0.9
    /// intertemporal: steps between the end of a trial and the next offer (time, no reward).
    public var intertrialInterval: Int = 0
    /// intertemporal: the share of forced trials (one option, drawn at random, is offered alone),
    /// which keep both options sampled as in animal delay-discounting tasks.
    public var forcedTrials: Double = 0.2

    enum CodingKeys: String, CodingKey {
        case kind, epochs, tasks, scenario, trials, arms, change, stimuli, temperature, learner
        case epochsPerTask = "epochs_per_task", changeEvery = "change_every", driftSD = "drift_sd", reverseEvery = "reverse_every"
        case inputs, inputRate = "input_rate"
        case labelsTrick = "labels_trick", joint, cumulative, stabilityProbe = "stability_probe"
        case delays, smallReward = "small_reward", largeReward = "large_reward", discount, traceDecay = "trace_decay"
        case intertrialInterval = "intertrial_interval", forcedTrials = "forced_trials"
    }

    public var isReward: Bool { kind == .bandit || kind == .reversal || kind == .distalReward || kind == .intertemporal }
    /// distal_reward: presynaptic inputs and their firing probability per step.
    public var inputs: Int = 50
    public var inputRate: Double = 0.01
    public var isContinual: Bool { kind == .split || kind == .permuted }
    /// split, class-incremental: while training a task, the softmax runs over that task's classes
    /// only (the "labels trick"); evaluation uses every output.
    public var labelsTrick = false
    /// split: train on every task's images at once (the upper bound of a task sequence), then
    /// score each task; the same sample budget as training the tasks in turn.
    public var joint = false
    /// split: task t trains on its own images and every earlier task's (incremental joint
    /// training, the setting in which the stability gap shows without forgetting).
    public var cumulative = false
    /// split, permuted: score every earlier task every `every` steps for the first `steps` steps
    /// of each new task (the stability gap); nil: no probe.
    public var stabilityProbe: StabilityProbe?

    public struct StabilityProbe: Sendable, Equatable, Codable {
        public var every: Int
        public var steps: Int
    }

    /// A protocol of `kind` with every field at its neutral value (fields other kinds use).
    static func neutral(_ kind: Kind) -> ProtocolSpec {
        ProtocolSpec(kind: kind, epochs: 1, tasks: 1, scenario: nil, epochsPerTask: 1, trials: 0, arms: 0,
                     changeEvery: 0, change: "redraw", driftSD: 0, reverseEvery: 0, stimuli: 0, temperature: 1)
    }

    /// The fields a protocol of `kind` uses; the stored spec shows only these (the others keep
    /// their neutral values).
    static func fields(of kind: Kind) -> [CodingKeys] {
        switch kind {
        case .single: return [.epochs]
        case .split: return [.tasks, .scenario, .epochsPerTask, .labelsTrick, .joint, .cumulative, .stabilityProbe]
        case .permuted: return [.tasks, .epochsPerTask, .stabilityProbe]
        case .bandit: return [.trials, .arms, .changeEvery, .change, .driftSD, .temperature, .learner]
        case .reversal: return [.trials, .reverseEvery, .stimuli, .temperature]
        case .distalReward: return [.trials, .inputs, .inputRate]
        case .intertemporal: return [.trials, .delays, .smallReward, .largeReward, .discount, .traceDecay, .intertrialInterval, .forcedTrials, .temperature]
        }
    }

    static func parse(_ value: JSONValue?, limits: SpecLimits) throws(SpecError) -> ProtocolSpec {
        var p = try FieldReader(value, path: "protocol")
        let kind = Kind(rawValue: try p.string("kind", default: "single", oneOf: Kind.allCases.map(\.rawValue)))!
        var spec = ProtocolSpec.neutral(kind)
        switch kind {
        case .single:
            spec.epochs = try p.int("epochs", default: 1, in: 1...limits.maxEpochs)
        case .split:
            spec.tasks = try p.int("tasks", default: 5, in: 5...5)
            spec.scenario = Scenario(rawValue: try p.string("scenario", default: Scenario.taskIncremental.rawValue,
                                                            oneOf: Scenario.allCases.map(\.rawValue)))!
            spec.epochsPerTask = try p.int("epochs_per_task", default: 1, in: 1...limits.maxEpochs)
            spec.labelsTrick = try p.bool("labels_trick", default: false)
            spec.joint = try p.bool("joint", default: false)
            spec.cumulative = try p.bool("cumulative", default: false)
            if spec.cumulative && spec.scenario == .taskIncremental {
                throw SpecError("protocol.cumulative", "cumulative training shares one head across tasks: use the domain- or class-incremental scenario")
            }
            if spec.cumulative && (spec.joint || spec.labelsTrick) {
                throw SpecError("protocol.cumulative", "is a task sequence of its own: drop \(spec.joint ? "joint" : "labels_trick")")
            }
            if spec.labelsTrick && spec.scenario != .classIncremental {
                throw SpecError("protocol.labels_trick", "applies to the class-incremental scenario (the other scenarios restrict or share outputs already)")
            }
            if spec.joint && spec.scenario == .taskIncremental {
                throw SpecError("protocol.joint", "joint training needs one shared head: use the domain- or class-incremental scenario")
            }
            if spec.joint && spec.labelsTrick { throw SpecError("protocol.joint", "joint training sees every class at once; drop labels_trick") }
            spec.stabilityProbe = try StabilityProbe.parse(p.raw("stability_probe"))
            if spec.joint && spec.stabilityProbe != nil { throw SpecError("protocol.stability_probe", "joint training has no task switch to probe") }
        case .permuted:
            spec.tasks = try p.int("tasks", default: 5, in: 2...20)
            spec.epochsPerTask = try p.int("epochs_per_task", default: 1, in: 1...limits.maxEpochs)
            spec.stabilityProbe = try StabilityProbe.parse(p.raw("stability_probe"))
        case .bandit:
            spec.trials = try p.int("trials", default: 2000, in: 10...limits.maxTrials)
            spec.arms = try p.int("arms", default: 10, in: 2...100)
            spec.changeEvery = try p.int("change_every", default: 200, in: 10...limits.maxTrials)
            spec.change = try p.string("change", default: "redraw", oneOf: ["redraw", "drift"])
            spec.driftSD = try p.double("drift_sd", default: 0.05, in: 0...1)
            spec.temperature = try p.double("temperature", default: 0.1, in: 0.001...100)
            spec.learner = try p.string("learner", default: "delta", oneOf: ["delta", "bayesian"])
            if spec.learner == "bayesian" && spec.change != "redraw" {
                throw SpecError("protocol.learner", "the Bayesian reference assumes the redraw model of change (change: redraw)")
            }
        case .reversal:
            spec.trials = try p.int("trials", default: 2000, in: 10...limits.maxTrials)
            spec.reverseEvery = try p.int("reverse_every", default: 200, in: 10...limits.maxTrials)
            spec.stimuli = try p.int("stimuli", default: 4, in: 2...64)
            spec.temperature = try p.double("temperature", default: 0.2, in: 0.001...100)
            if spec.stimuli % 2 != 0 { throw SpecError("protocol.stimuli", "must be even (half go, half no-go), got \(spec.stimuli)") }
        case .distalReward:
            spec.trials = try p.int("trials", default: 60_000, in: 100...limits.maxTrials)
            spec.inputs = try p.int("inputs", default: 50, in: 2...1000)
            spec.inputRate = try p.double("input_rate", default: 0.01, in: 0...0.5, openLower: true)
        case .intertemporal:
            spec.trials = try p.int("trials", default: 4000, in: 10...limits.maxTrials)
            spec.delays = p.raw("delays") == nil ? [1, 2, 4, 8, 16] : try p.intArray("delays", count: 1...32, each: 1...1000)
            if Set(spec.delays).count != spec.delays.count { throw SpecError("protocol.delays", "lists a delay twice") }
            spec.smallReward = try p.double("small_reward", default: 1, in: 0...1000, openLower: true)
            spec.largeReward = try p.double("large_reward", default: 4, in: 0...1000, openLower: true)
            if spec.largeReward <= spec.smallReward {
                throw SpecError("protocol.large_reward", "must exceed small_reward (\(spec.smallReward)): waiting must be worth something")
            }
            spec.discount = try p.double("discount", default: 0.5, in: 0...0.999, openLower: true)
            spec.traceDecay = try p.double("trace_decay", default: 0.9, in: 0...1)
            spec.intertrialInterval = try p.int("intertrial_interval", default: 0, in: 0...1000)
            spec.forcedTrials = try p.double("forced_trials", default: 0.2, in: 0...0.9)
            spec.temperature = try p.double("temperature", default: 0.2, in: 0.001...100)
        }
        try p.rejectUnknown()
        return spec
    }
}

/// Stored specs show only the protocol fields their kind uses.
extension ProtocolSpec {
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self = .neutral(try c.decode(Kind.self, forKey: .kind))
        // Specs stored before this encoding carry every field: read whatever is there.
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? epochs
        tasks = try c.decodeIfPresent(Int.self, forKey: .tasks) ?? tasks
        scenario = try c.decodeIfPresent(Scenario.self, forKey: .scenario)
        epochsPerTask = try c.decodeIfPresent(Int.self, forKey: .epochsPerTask) ?? epochsPerTask
        trials = try c.decodeIfPresent(Int.self, forKey: .trials) ?? trials
        arms = try c.decodeIfPresent(Int.self, forKey: .arms) ?? arms
        changeEvery = try c.decodeIfPresent(Int.self, forKey: .changeEvery) ?? changeEvery
        change = try c.decodeIfPresent(String.self, forKey: .change) ?? change
        driftSD = try c.decodeIfPresent(Double.self, forKey: .driftSD) ?? driftSD
        reverseEvery = try c.decodeIfPresent(Int.self, forKey: .reverseEvery) ?? reverseEvery
        stimuli = try c.decodeIfPresent(Int.self, forKey: .stimuli) ?? stimuli
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature) ?? temperature
        learner = try c.decodeIfPresent(String.self, forKey: .learner) ?? learner
        inputs = try c.decodeIfPresent(Int.self, forKey: .inputs) ?? inputs
        inputRate = try c.decodeIfPresent(Double.self, forKey: .inputRate) ?? inputRate
        labelsTrick = try c.decodeIfPresent(Bool.self, forKey: .labelsTrick) ?? false
        joint = try c.decodeIfPresent(Bool.self, forKey: .joint) ?? false
        cumulative = try c.decodeIfPresent(Bool.self, forKey: .cumulative) ?? false
        stabilityProbe = try c.decodeIfPresent(StabilityProbe.self, forKey: .stabilityProbe)
        delays = try c.decodeIfPresent([Int].self, forKey: .delays) ?? delays
        smallReward = try c.decodeIfPresent(Double.self, forKey: .smallReward) ?? smallReward
        largeReward = try c.decodeIfPresent(Double.self, forKey: .largeReward) ?? largeReward
        discount = try c.decodeIfPresent(Double.self, forKey: .discount) ?? discount
        traceDecay = try c.decodeIfPresent(Double.self, forKey: .traceDecay) ?? traceDecay
        intertrialInterval = try c.decodeIfPresent(Int.self, forKey: .intertrialInterval) ?? intertrialInterval
        forcedTrials = try c.decodeIfPresent(Double.self, forKey: .forcedTrials) ?? forcedTrials
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        for key in Self.fields(of: kind) {
            switch key {
            case .epochs: try c.encode(epochs, forKey: key)
            case .tasks: try c.encode(tasks, forKey: key)
            case .scenario: try c.encodeIfPresent(scenario, forKey: key)
            case .epochsPerTask: try c.encode(epochsPerTask, forKey: key)
            case .trials: try c.encode(trials, forKey: key)
            case .arms: try c.encode(arms, forKey: key)
            case .changeEvery: try c.encode(changeEvery, forKey: key)
            case .change: try c.encode(change, forKey: key)
            case .driftSD: try c.encode(driftSD, forKey: key)
            case .reverseEvery: try c.encode(reverseEvery, forKey: key)
            case .stimuli: try c.encode(stimuli, forKey: key)
            case .temperature: try c.encode(temperature, forKey: key)
            case .learner: try c.encode(learner, forKey: key)
            case .inputs: try c.encode(inputs, forKey: key)
            case .inputRate: try c.encode(inputRate, forKey: key)
            case .labelsTrick: if labelsTrick { try c.encode(true, forKey: key) }
            case .joint: if joint { try c.encode(true, forKey: key) }
            case .cumulative: if cumulative { try c.encode(true, forKey: key) }
            case .stabilityProbe: try c.encodeIfPresent(stabilityProbe, forKey: key)
            case .delays: try c.encode(delays, forKey: key)
            case .smallReward: try c.encode(smallReward, forKey: key)
            case .largeReward: try c.encode(largeReward, forKey: key)
            case .discount: try c.encode(discount, forKey: key)
            case .traceDecay: try c.encode(traceDecay, forKey: key)
            case .intertrialInterval: try c.encode(intertrialInterval, forKey: key)
            case .forcedTrials: try c.encode(forcedTrials, forKey: key)
            case .kind: break
            }
        }
    }
}

extension ProtocolSpec.StabilityProbe {
    static func parse(_ value: JSONValue?) throws(SpecError) -> Self? {
        guard let value, value != .null else { return nil }
        var r = try FieldReader(value, path: "protocol.stability_probe")
        let probe = Self(every: try r.int("every", default: 10, in: 1...10_000), steps: try r.int("steps", default: 200, in: 1...100_000))
        try r.rejectUnknown()
        if probe.steps / probe.every > 1000 {
            throw SpecError("protocol.stability_probe", "scores earlier tasks \(probe.steps / probe.every) times per switch; at most 1000")
        }
        return probe
    }
}
