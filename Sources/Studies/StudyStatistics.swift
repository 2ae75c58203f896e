import Foundation
import Engine

/// The statistics of a study table: descriptive statistics with percentile-bootstrap confidence
/// intervals, and seed-paired comparisons against the control cell with an exact (or, past 20
/// pairs, Monte Carlo) paired sign-flip test, Holm-adjusted across cells. Deterministic: every
/// resampling draws from a fixed seed.
public enum StudyStatistics {
    /// Bootstrap resamples per interval.
    public static let bootstrapResamples = 10_000
    /// Pairs up to which the sign-flip test enumerates all 2ⁿ sign patterns.
    public static let exactSignFlipLimit = 16
    /// Random sign patterns drawn beyond that.
    public static let monteCarloFlips = 100_000

    public struct Summary: Sendable, Equatable {
        public var n: Int
        public var mean: Double
        /// Sample standard deviation (n − 1); nil below two values.
        public var sd: Double?
        /// 95% percentile-bootstrap interval of the mean; nil below two values.
        public var ci95: (Double, Double)?

        public static func == (a: Summary, b: Summary) -> Bool {
            a.n == b.n && a.mean == b.mean && a.sd == b.sd && a.ci95?.0 == b.ci95?.0 && a.ci95?.1 == b.ci95?.1
        }
    }

    public static func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(max(x.count, 1)) }

    public static func sd(_ x: [Double]) -> Double? {
        guard x.count >= 2 else { return nil }
        let m = mean(x)
        return (x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1)).squareRoot()
    }

    /// n, mean, sd and the 95% percentile-bootstrap interval of the mean.
    public static func summarize(_ x: [Double], seed: UInt64 = 1) -> Summary {
        Summary(n: x.count, mean: mean(x), sd: sd(x), ci95: x.count >= 2 ? bootstrapCI(x, seed: seed) : nil)
    }

    /// Percentile bootstrap: the 2.5% and 97.5% quantiles (linear interpolation) of the means of
    /// `bootstrapResamples` resamples with replacement.
    public static func bootstrapCI(_ x: [Double], seed: UInt64 = 1, level: Double = 0.95) -> (Double, Double) {
        var rng = RandomSource(seed: seed, stream: 77_000)
        let n = x.count
        var means = [Double](repeating: 0, count: bootstrapResamples)
        for b in 0..<bootstrapResamples {
            var s = 0.0
            for _ in 0..<n { s += x[rng.below(n)] }
            means[b] = s / Double(n)
        }
        means.sort()
        let alpha = (1 - level) / 2
        return (quantile(means, alpha), quantile(means, 1 - alpha))
    }

    /// The q-quantile of sorted values, interpolating linearly between order statistics (NumPy's default).
    public static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let h = Double(sorted.count - 1) * q
        let lo = Int(h.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
    }

    /// Two-sided p of the paired sign-flip test of mean(d) = 0: the share of sign patterns whose
    /// mean is at least as far from 0 as the observed one (exact up to `exactSignFlipLimit` pairs).
    public static func signFlipP(_ d: [Double], seed: UInt64 = 1) -> Double {
        let n = d.count
        guard n > 0 else { return 1 }
        let observed = abs(d.reduce(0, +))
        let tolerance = 1e-12 * max(1, d.reduce(0) { $0 + abs($1) })
        if n <= exactSignFlipLimit {
            var extreme = 0
            let patterns = 1 << n
            for mask in 0..<patterns {
                var s = 0.0
                for i in 0..<n { s += (mask >> i) & 1 == 1 ? -d[i] : d[i] }
                if abs(s) >= observed - tolerance { extreme += 1 }
            }
            return Double(extreme) / Double(patterns)
        }
        var rng = RandomSource(seed: seed, stream: 78_000)
        var extreme = 1   // the observed pattern itself
        for _ in 0..<monteCarloFlips {
            var s = 0.0
            var bits = rng.next(), used = 0
            for i in 0..<n {
                if used == 64 { bits = rng.next(); used = 0 }
                s += bits & 1 == 1 ? -d[i] : d[i]
                bits >>= 1; used += 1
            }
            if abs(s) >= observed - tolerance { extreme += 1 }
        }
        return Double(extreme) / Double(monteCarloFlips + 1)
    }

    /// Holm's step-down adjustment of `p` (family-wise error over the list).
    public static func holm(_ p: [Double]) -> [Double] {
        let m = p.count
        let order = p.indices.sorted { p[$0] < p[$1] }
        var adjusted = [Double](repeating: 1, count: m)
        var running = 0.0
        for (rank, i) in order.enumerated() {
            running = max(running, min(1, Double(m - rank) * p[i]))
            adjusted[i] = running
        }
        return adjusted
    }
}
