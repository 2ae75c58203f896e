/// The seeded sample order of each task's epoch — `RandomSource(seed, stream 1000 + task·10⁴ +
/// epoch)` — and the dataset indices of a step's minibatch. Derived from (seed, task, epoch) alone,
/// so nothing of it needs saving for a bit-for-bit resume. Shared by the supervised families.
struct MinibatchOrder {
    private var order: [Int32] = []
    private var key = -1

    /// The training-set indices of the minibatch at `position` of `task` (the last one may be short).
    mutating func indices(of task: TrainingTask, at position: TrainingSchedule.Position, batchSize: Int, seed: UInt64) -> [Int] {
        let k = position.task * 100_000 + position.epoch
        if key != k {
            var rng = RandomSource(seed: seed, stream: 1000 + UInt64(position.task) * 10_000 + UInt64(position.epoch))
            order = rng.permutation(task.trainIndices.count)
            key = k
        }
        let begin = position.batch * batchSize
        let count = min(batchSize, task.trainIndices.count - begin)
        return (0..<count).map { Int(task.trainIndices[Int(order[begin + $0])]) }
    }

    /// Forgets the cached order (after a restore).
    mutating func reset() { key = -1 }
}
