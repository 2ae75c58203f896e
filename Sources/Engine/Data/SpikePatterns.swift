import Foundation

/// A built-in temporal task (`data.dataset: "spike-patterns"`): every sample is `channels` input
/// channels over `steps` time steps, and every channel spikes exactly once in every class's
/// template — classes differ only in *when* their channels spike, never in how often. Samples
/// jitter each spike by up to ±`jitter` steps, drop it with probability `dropout`, and add a
/// spike at a random time with the same probability (so counts carry no class information).
/// Generated from fixed seeds: the same data for every run.
public enum SpikePatterns {
    public static let name = "spike-patterns"
    public static let classes = 10
    public static let channels = 40
    public static let steps = 50
    public static let trainCount = 6000
    public static let testCount = 1000
    public static let jitter = 2
    public static let dropout = 0.1

    /// Each class's firing time per channel, in [5, steps − 10).
    static func templates() -> [[Int]] {
        (0..<classes).map { c in
            var rng = RandomSource(seed: 0x5EED_7A11, stream: UInt64(c))
            return (0..<channels).map { _ in 5 + rng.below(steps - 15) }
        }
    }

    /// The training and test splits (labels cycle through the classes).
    public static func make() -> (train: Dataset, test: Dataset) {
        let templates = templates()
        func split(_ n: Int, stream: UInt64) -> Dataset {
            var rng = RandomSource(seed: 0x5EED_DA7A, stream: stream)
            let width = steps * channels
            let inputs = FloatBuffer(count: n * width)
            inputs.pointer.initialize(repeating: 0, count: n * width)
            var labels = [Int32](repeating: 0, count: n)
            for i in 0..<n {
                let c = i % classes
                labels[i] = Int32(c)
                let row = inputs.pointer + i * width
                for j in 0..<channels {
                    if rng.uniform() >= dropout {
                        let t = min(steps - 1, max(0, templates[c][j] + rng.below(2 * jitter + 1) - jitter))
                        row[t * channels + j] = 1
                    }
                    if rng.uniform() < dropout { row[rng.below(steps) * channels + j] = 1 }
                }
            }
            return Dataset(name: name, features: width, classes: classes, inputs: inputs, labels: labels,
                           labelNames: (0..<classes).map { "pattern \($0)" }, sampleShape: [steps, channels])
        }
        return (split(trainCount, stream: 1), split(testCount, stream: 2))
    }
}
