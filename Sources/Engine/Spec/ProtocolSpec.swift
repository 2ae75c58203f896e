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
    /// reversal: trials between contingency reversals; number of stimuli (half are "go").
    public var reverseEvery: Int
    public var stimuli: Int
    /// Reward tasks: the softmax temperature of action selection before modulation.
    public var temperature: Double

    enum CodingKeys: String, CodingKey {
        case kind, epochs, tasks, scenario, trials, arms, change, stimuli, temperature
        case epochsPerTask = "epochs_per_task", changeEvery = "change_every", driftSD = "drift_sd", reverseEvery = "reverse_every"
        case inputs, inputRate = "input_rate"
    }

    public var isReward: Bool { kind == .bandit || kind == .reversal || kind == .distalReward }
    /// distal_reward: presynaptic inputs and their firing probability per step.
    public var inputs: Int = 50
    public var inputRate: Double = 0.01
    public var isContinual: Bool { kind == .split || kind == .permuted }

    static func parse(_ value: JSONValue?, limits: SpecLimits) throws(SpecError) -> ProtocolSpec {
        var p = try FieldReader(value, path: "protocol")
        let kind = Kind(rawValue: try p.string("kind", default: "single", oneOf: Kind.allCases.map(\.rawValue)))!
        var spec = ProtocolSpec(kind: kind, epochs: 1, tasks: 1, scenario: nil, epochsPerTask: 1, trials: 0, arms: 0,
                                changeEvery: 0, change: "redraw", driftSD: 0, reverseEvery: 0, stimuli: 0, temperature: 1)
        switch kind {
        case .single:
            spec.epochs = try p.int("epochs", default: 1, in: 1...limits.maxEpochs)
        case .split:
            spec.tasks = try p.int("tasks", default: 5, in: 5...5)
            spec.scenario = Scenario(rawValue: try p.string("scenario", default: Scenario.taskIncremental.rawValue,
                                                            oneOf: Scenario.allCases.map(\.rawValue)))!
            spec.epochsPerTask = try p.int("epochs_per_task", default: 1, in: 1...limits.maxEpochs)
        case .permuted:
            spec.tasks = try p.int("tasks", default: 5, in: 2...20)
            spec.epochsPerTask = try p.int("epochs_per_task", default: 1, in: 1...limits.maxEpochs)
        case .bandit:
            spec.trials = try p.int("trials", default: 2000, in: 10...limits.maxTrials)
            spec.arms = try p.int("arms", default: 10, in: 2...100)
            spec.changeEvery = try p.int("change_every", default: 200, in: 10...limits.maxTrials)
            spec.change = try p.string("change", default: "redraw", oneOf: ["redraw", "drift"])
            spec.driftSD = try p.double("drift_sd", default: 0.05, in: 0...1)
            spec.temperature = try p.double("temperature", default: 0.1, in: 0.001...100)
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
        }
        try p.rejectUnknown()
        return spec
    }
}
