import Foundation

/// The normative reference for the non-stationary bandit (`protocol.learner: bayesian`): exact
/// Bayesian online change-point inference (Adams & MacKay 2007) over the task's own generative
/// model — at each trial, with hazard h = 1/`change_every`, every arm's reward probability is
/// redrawn from Uniform(0, 1); otherwise outcomes are Bernoulli draws of the current ones.
///
/// The belief is a distribution over the run length r (trials since the last change) and, for
/// each r, a Beta(1 + wins, 1 + losses) posterior per arm over that run's trials. Before a trial,
/// each run either continues (1 − h) or a change starts a new run with this trial (h); the
/// observed outcome reweights every run by its Beta-Bernoulli predictive. Choices are Thompson
/// samples from the mixture (a run length drawn from the belief, then one probability per arm
/// from its Beta). Run lengths whose weight falls below 1e-12 are dropped. This replaces the
/// reduced Bayesian delta rule of Nassar et al. (2010), built for Gaussian outcomes, which did not
/// transfer to single 0/1 rewards (BENCHMARKS.md).
public struct BayesianChangePointLearner: Sendable, Equatable, Codable {
    public let arms: Int
    public let hazard: Double
    /// Per run length (index 0: the newest run): its weight, and wins and losses per arm.
    public private(set) var weights: [Double] = [1]
    public private(set) var wins: [[Double]]
    public private(set) var losses: [[Double]]

    public init(arms: Int, hazard: Double) {
        self.arms = arms
        self.hazard = hazard
        wins = [[Double](repeating: 0, count: arms)]
        losses = [[Double](repeating: 0, count: arms)]
    }

    /// The posterior mean reward probability of each arm.
    public var means: [Double] {
        (0..<arms).map { a in weights.indices.reduce(0) { $0 + weights[$1] * (1 + wins[$1][a]) / (2 + wins[$1][a] + losses[$1][a]) } }
    }

    /// A Thompson sample: the arm whose probability, drawn from the posterior, is largest.
    public func choose(_ rng: inout RandomSource) -> Int {
        var u = rng.uniform(), r = weights.count - 1
        for (i, w) in weights.enumerated() { u -= w; if u < 0 { r = i; break } }
        var best = 0, top = -1.0
        for a in 0..<arms {
            let x = Self.gamma(1 + wins[r][a], &rng), y = Self.gamma(1 + losses[r][a], &rng)
            let p = x / (x + y)
            if p > top { top = p; best = a }
        }
        return best
    }

    /// Updates the belief with the outcome of `arm`.
    public mutating func observe(arm: Int, reward: Bool) {
        func predictive(_ i: Int) -> Double {
            let (s, f) = (wins[i][arm], losses[i][arm])
            return (reward ? 1 + s : 1 + f) / (2 + s + f)
        }
        // A change starts a fresh run with this trial (prior predictive ½); otherwise each run grows.
        var newWeights = [hazard * 0.5] + weights.indices.map { weights[$0] * (1 - hazard) * predictive($0) }
        var newWins = [[Double](repeating: 0, count: arms)] + wins
        var newLosses = [[Double](repeating: 0, count: arms)] + losses
        for i in newWeights.indices { if reward { newWins[i][arm] += 1 } else { newLosses[i][arm] += 1 } }
        let total = newWeights.reduce(0, +)
        newWeights = newWeights.map { $0 / total }
        let keep = newWeights.indices.filter { newWeights[$0] >= 1e-12 }
        weights = keep.map { newWeights[$0] }
        let kept = weights.reduce(0, +)
        weights = weights.map { $0 / kept }
        wins = keep.map { newWins[$0] }
        losses = keep.map { newLosses[$0] }
    }

    /// A Gamma(shape, 1) draw (Marsaglia & Tsang 2000; shape ≥ 1 here).
    static func gamma(_ shape: Double, _ rng: inout RandomSource) -> Double {
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat { x = rng.normal(); v = 1 + c * x } while v <= 0
            v = v * v * v
            let u = rng.uniform()
            if u < 1 - 0.0331 * x * x * x * x || Foundation.log(u) < 0.5 * x * x + d * (1 - v + Foundation.log(v)) { return d * v }
        }
    }
}
