/// A supervised protocol as a family trains it: the tasks it is scored on, the tasks it trains in
/// turn (all of them merged into one for joint training; task t with every earlier one for
/// cumulative training), the step schedule, and each step's
/// minibatch in its seeded order. Shared by the MLP, streaming-LDA and sparse families.
public struct TaskStream {
    public let tasks: [TrainingTask]
    public let trainingTasks: [TrainingTask]
    public let schedule: TrainingSchedule
    private var order = MinibatchOrder()
    private let batchSize: Int
    private let seed: UInt64

    init(spec: ExperimentSpec, train: Dataset, test: Dataset) {
        tasks = TaskSequence.make(spec: spec, train: train, test: test)
        let all = tasks
        trainingTasks = spec.protocol.joint ? [TaskSequence.merged(tasks)]
            : spec.protocol.cumulative ? all.indices.map { t in TaskSequence.merged(Array(all[0...t]), index: t, name: "tasks 0–\(t) (cumulative)") }
            : tasks
        batchSize = spec.optimizer.batchSize
        seed = spec.seed
        let b = batchSize
        let epochs = spec.protocol.kind == .single ? spec.protocol.epochs : spec.protocol.epochsPerTask
        schedule = TrainingSchedule(stepsPerEpoch: trainingTasks.map { ($0.trainIndices.count + b - 1) / b }, epochsPerTask: epochs)
    }

    /// The minibatch at `position`: its training task and the training-set indices, in order.
    mutating func minibatch(at position: TrainingSchedule.Position) -> (task: TrainingTask, indices: [Int]) {
        let task = trainingTasks[position.task]
        return (task, order.indices(of: task, at: position, batchSize: batchSize, seed: seed))
    }

    /// Copies a minibatch's inputs (through its task's pixel permutation) to `x`, row by row, and
    /// returns their targets (the task's label map applied).
    static func load(_ batch: (task: TrainingTask, indices: [Int]), from data: Dataset, into x: UnsafeMutablePointer<Float>) -> [Int32] {
        batch.indices.enumerated().map { r, i in
            data.copyInput(i, permutation: batch.task.permutation, to: x + r * data.features)
            return batch.task.labelMap[Int(data.labels[i])]
        }
    }

    /// Forgets the cached order (after a restore).
    mutating func reset() { order.reset() }
}

extension ExperimentSpec {
    /// The metric that ranks a supervised run's checkpoints: on validation when it holds one out.
    var supervisedSelectionMetric: String {
        `protocol`.isContinual ? (data.validates ? "continual.val_average_accuracy" : "continual.average_accuracy")
                               : (data.validates ? "val.accuracy" : "test.accuracy")
    }
}

extension TrainingTask {
    /// Scores this task's held-out images — its test images, or its validation hold-out from the
    /// training set — in chunks of at most 1,000: each chunk's inputs are copied (through the
    /// task's pixel permutation) to `buffer(count)` (a scratch buffer when nil), and `score`
    /// returns the chunk's summed loss and number of correct answers given its targets.
    func evaluate(on split: EvaluationSplit, train: Dataset, test: Dataset,
                  buffer: ((Int) -> UnsafeMutablePointer<Float>)? = nil,
                  score: (UnsafeMutablePointer<Float>, [Int]) -> (loss: Double, correct: Int)) -> Evaluation {
        let (indices, data) = split == .test ? (testIndices, test) : (validationIndices, train)
        guard !indices.isEmpty else { return Evaluation(loss: 0, accuracy: 0) }
        let scratch = buffer == nil ? FloatBuffer(count: min(1000, indices.count) * data.features) : nil
        var loss = 0.0, correct = 0, begin = 0
        while begin < indices.count {
            let count = min(1000, indices.count - begin)
            let x = buffer?(count) ?? scratch!.pointer
            let chunk = indices[begin..<(begin + count)]
            for (r, i) in chunk.enumerated() { data.copyInput(Int(i), permutation: permutation, to: x + r * data.features) }
            let result = score(x, chunk.map { Int(labelMap[Int(data.labels[Int($0)])]) })
            loss += result.loss
            correct += result.correct
            begin += count
        }
        return Evaluation(loss: loss / Double(indices.count), accuracy: Double(correct) / Double(indices.count))
    }
}
