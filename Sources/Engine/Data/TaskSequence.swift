import Foundation

/// One task of a protocol: which samples, how labels map to outputs, which outputs compete, and
/// how inputs are transformed.
public struct TrainingTask: Sendable {
    public let index: Int
    public let name: String
    /// Indices into the training / test dataset.
    public let trainIndices: [Int32]
    public let testIndices: [Int32]
    /// Indices into the training dataset held out for validation (`data.validation`; empty: none).
    public var validationIndices: [Int32] = []
    /// Class label → network target (identity, or class mod 2 in the domain-incremental scenario).
    public let labelMap: [Int32]
    /// Outputs the softmax runs over (task-incremental); nil for all.
    public let allowedOutputs: [Bool]?
    /// Pixel permutation applied to every input (permuted protocol); nil for none.
    public let permutation: [Int32]?
}

/// Builds the tasks of a protocol over a dataset, deterministically from the seed.
public enum TaskSequence {
    public static func make(spec: ExperimentSpec, train: Dataset, test: Dataset) -> [TrainingTask] {
        let tasks = makeWithoutValidation(spec: spec, train: train, test: test)
        if spec.data.validationProvided, let rows = train.providedValidation {
            // The data set's own validation rows, those of each task's classes.
            return tasks.map { task in
                var t = task
                let classes = Set(task.trainIndices.map { train.labels[Int($0)] })
                t.validationIndices = rows.filter { classes.contains(train.labels[$0]) }.map { Int32($0) }
                return t
            }
        }
        guard let fraction = spec.data.validation else { return tasks }
        return tasks.map { task in
            // A seeded, per-task hold-out (the same images for every task of a permuted protocol,
            // whose tasks share them): the same seed holds out the same images in every cell of a study.
            let stream: UInt64 = spec.protocol.kind == .split ? 6000 + UInt64(task.index) : 6000
            var rng = RandomSource(seed: spec.seed, stream: stream)
            let order = rng.permutation(task.trainIndices.count)
            // At least one image on each side whenever the task has two.
            let n = task.trainIndices.count
            let held = n < 2 ? 0 : min(max(Int((Double(n) * fraction).rounded()), 1), n - 1)
            let validation = order.prefix(held).map { task.trainIndices[Int($0)] }.sorted()
            let training = order.dropFirst(held).map { task.trainIndices[Int($0)] }.sorted()
            var t = TrainingTask(index: task.index, name: task.name, trainIndices: training, testIndices: task.testIndices,
                                 labelMap: task.labelMap, allowedOutputs: task.allowedOutputs, permutation: task.permutation)
            t.validationIndices = validation
            return t
        }
    }

    static func makeWithoutValidation(spec: ExperimentSpec, train: Dataset, test: Dataset) -> [TrainingTask] {
        let p = spec.protocol
        let trainCount = min(spec.trainCount, train.count)
        let testCount = min(spec.data.testLimit ?? test.count, test.count)
        let identity = (0..<Int32(train.classes)).map { $0 }
        switch p.kind {
        case .single, .bandit, .reversal, .distalReward, .intertemporal:
            return [TrainingTask(index: 0, name: "all classes", trainIndices: (0..<Int32(trainCount)).map { $0 },
                                 testIndices: (0..<Int32(testCount)).map { $0 }, labelMap: identity,
                                 allowedOutputs: nil, permutation: nil)]
        case .split:
            return (0..<p.tasks).map { t in
                let classes: Set<Int32> = [Int32(2 * t), Int32(2 * t + 1)]
                let tr = (0..<trainCount).filter { classes.contains(train.labels[$0]) }.map { Int32($0) }
                let te = (0..<testCount).filter { classes.contains(test.labels[$0]) }.map { Int32($0) }
                var map = identity
                var allowed: [Bool]?
                switch p.scenario ?? .taskIncremental {
                case .taskIncremental: allowed = (0..<train.classes).map { classes.contains(Int32($0)) }
                case .domainIncremental: map = identity.map { $0 % 2 }
                case .classIncremental: break
                }
                return TrainingTask(index: t, name: "classes \(2 * t),\(2 * t + 1)", trainIndices: tr, testIndices: te,
                                    labelMap: map, allowedOutputs: allowed, permutation: nil)
            }
        case .permuted:
            return (0..<p.tasks).map { t in
                let perm = permutation(spec: spec, task: t, features: train.features)
                return TrainingTask(index: t, name: t == 0 ? "original pixels" : "permutation \(t)",
                                    trainIndices: (0..<Int32(trainCount)).map { $0 },
                                    testIndices: (0..<Int32(testCount)).map { $0 },
                                    labelMap: identity, allowedOutputs: nil, permutation: perm)
            }
        }
    }
}

extension TaskSequence {
    /// All tasks' training (and validation) images as one task, for joint training (and, task by
    /// task, cumulative training). The tasks must share their label map and outputs (domain- and
    /// class-incremental split).
    public static func merged(_ tasks: [TrainingTask], index: Int = 0, name: String = "all tasks (joint)") -> TrainingTask {
        var t = TrainingTask(index: index, name: name, trainIndices: tasks.flatMap(\.trainIndices).sorted(),
                             testIndices: tasks.flatMap(\.testIndices).sorted(), labelMap: tasks[0].labelMap,
                             allowedOutputs: nil, permutation: nil)
        t.validationIndices = tasks.flatMap(\.validationIndices).sorted()
        return t
    }

    /// The pixel permutation of task `task` of a permuted protocol (nil for task 0, which sees the
    /// images as they are, and for every other protocol). Training and serving share it.
    public static func permutation(spec: ExperimentSpec, task: Int, features: Int) -> [Int32]? {
        guard spec.protocol.kind == .permuted, task > 0 else { return nil }
        var rng = RandomSource(seed: spec.seed, stream: 5000 + UInt64(task))
        return rng.permutation(features)
    }
}

/// The standard continual-learning measures over an accuracy matrix `R[i][j]` (accuracy on task j
/// after training task i) and the accuracies `b[j]` of the untrained network (Lopez-Paz & Ranzato, 2017).
public struct ContinualMetrics: Sendable, Equatable {
    public var averageAccuracy: Double
    /// Mean over j < T of R[T][j] − R[j][j]: negative means forgetting.
    public var backwardTransfer: Double
    /// Mean over j > 0 of R[j−1][j] − b[j].
    public var forwardTransfer: Double
    /// Mean over j < T of max_{l<T} R[l][j] − R[T][j].
    public var forgetting: Double

    public init(matrix r: [[Double]], initial b: [Double]) {
        let n = r.count
        let last = r[n - 1]
        averageAccuracy = last.prefix(n).reduce(0, +) / Double(n)
        if n > 1 {
            var bwt = 0.0, fwt = 0.0, forget = 0.0
            for j in 0..<(n - 1) {
                bwt += last[j] - r[j][j]
                var best = r[0][j]
                for l in 0..<(n - 1) { best = max(best, r[l][j]) }
                forget += best - last[j]
            }
            for j in 1..<n { fwt += r[j - 1][j] - b[j] }
            backwardTransfer = bwt / Double(n - 1)
            forwardTransfer = fwt / Double(n - 1)
            forgetting = forget / Double(n - 1)
        } else {
            backwardTransfer = 0
            forwardTransfer = 0
            forgetting = 0
        }
    }
}
