/// The layout of a run's steps: tasks in order, each `epochsPerTask` epochs of its own number of
/// steps. A single-task run is one task; a reward task is one task of one epoch (its trials).
public struct TrainingSchedule: Sendable, Equatable {
    /// Where a global step falls.
    public struct Position: Sendable, Equatable {
        public var task: Int
        public var epoch: Int
        /// The step within the epoch (a minibatch, or a trial).
        public var batch: Int
    }

    public let stepsPerEpoch: [Int]
    public let epochsPerTask: Int
    /// The global step at which each task starts.
    public let taskStart: [Int]
    public let totalSteps: Int

    public init(stepsPerEpoch: [Int], epochsPerTask: Int) {
        precondition(!stepsPerEpoch.isEmpty && epochsPerTask >= 1)
        self.stepsPerEpoch = stepsPerEpoch
        self.epochsPerTask = epochsPerTask
        var starts: [Int] = []
        var total = 0
        for n in stepsPerEpoch {
            starts.append(total)
            total += n * epochsPerTask
        }
        taskStart = starts
        totalSteps = total
    }

    /// One task of `steps` steps in one epoch (reward tasks).
    public static func single(steps: Int) -> TrainingSchedule { TrainingSchedule(stepsPerEpoch: [steps], epochsPerTask: 1) }

    public var taskCount: Int { stepsPerEpoch.count }

    /// The position of global step `step` (0 ≤ step < totalSteps).
    public func locate(_ step: Int) -> Position {
        var t = stepsPerEpoch.count - 1
        while t > 0 && taskStart[t] > step { t -= 1 }
        let local = step - taskStart[t]
        let perEpoch = max(stepsPerEpoch[t], 1)
        return Position(task: t, epoch: local / perEpoch, batch: local % perEpoch)
    }
}
