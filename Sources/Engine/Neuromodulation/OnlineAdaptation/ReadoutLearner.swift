import Foundation
import CBLAS

/// The weights of a softmax readout (`features × classes`, row-major as `h @ W`, then a bias).
/// Immutable: the adapting side builds a new one per update and serving swaps it in whole, so a
/// forward pass always sees one consistent set.
public final class ReadoutWeights: @unchecked Sendable {
    public let features: Int
    public let classes: Int
    public let weights: [Float]
    public let bias: [Float]

    public init(features: Int, classes: Int, weights: [Float], bias: [Float]) {
        precondition(weights.count == features * classes && bias.count == classes)
        self.features = features
        self.classes = classes
        self.weights = weights
        self.bias = bias
    }

    /// Class probabilities of `rows` feature vectors, computed as ``MLP``'s output layer computes
    /// them (``MLP/product``), so that an unadapted readout answers exactly
    /// as the registered model does.
    public func probabilities(_ h: UnsafePointer<Float>, rows: Int) -> [Float] {
        var z = [Float](repeating: 0, count: rows * classes)
        z.withUnsafeMutableBufferPointer { out in
            let z = out.baseAddress!
            weights.withUnsafeBufferPointer { w in
                MLP.product(h, rows: rows, inputs: features, weights: w.baseAddress!, outputs: classes, into: z)
            }
            for r in 0..<rows {
                for c in 0..<classes { z[r * classes + c] += bias[c] }
            }
            MLP.softmaxRows(z, rows: rows, cols: classes)
        }
        return z
    }

    /// Fraction of `labels` the readout gets right from `features` (rows × ``features``).
    public func accuracy(features h: [Float], labels: [Int32]) -> Double {
        guard !labels.isEmpty else { return 0 }
        let p = h.withUnsafeBufferPointer { probabilities($0.baseAddress!, rows: labels.count) }
        var correct = 0
        for (r, y) in labels.enumerated() {
            var best = 0
            for c in 1..<classes where p[r * classes + c] > p[r * classes + best] { best = c }
            if best == Int(y) { correct += 1 }
        }
        return Double(correct) / Double(labels.count)
    }
}

/// Learns a readout online from feedback on single predictions, under an ``AdaptationPolicy``.
///
/// For a label `y` the dopamine signal is `δ = 1 − p_y` (the outcome, 1, minus the confidence the
/// model gave it) and the eligibility is the softmax's own `e = onehot(y) − p` (so the update is
/// the cross-entropy gradient weighted by the surprise of the outcome); for a reward `r ∈ [0, 1]`
/// on the answered class `a`, `δ = r − p_a` (the reward minus the reward the model's confidence
/// predicts) and `e = onehot(a) − p`. The update is the three-factor product `ΔW = η · plasticity · δ · h ⊗ e`
/// (and `Δb = η · plasticity · δ · e`). Surprise is `−ln p_y` (labels) or `|δ|` (rewards);
/// noradrenaline, serotonin and the drift bound are described on ``AdaptationPolicy``.
/// Not thread-safe: the serving side serialises calls and publishes ``current`` snapshots.
public final class ReadoutLearner {
    /// What one update did (the feedback answer reports it).
    public struct Step: Sendable, Equatable {
        public var dopamine: Double
        public var surprise: Double
        public var noradrenaline: Double
        public var plasticity: Double
        /// `‖θ − θ₀‖ / ‖θ₀‖` after the update (and the projection).
        public var drift: Double
        /// NA crossed the policy's threshold with this update.
        public var shiftDetected: Bool
        /// The class the readout gave before the update, for label feedback: whether it was right.
        public var correct: Bool?
    }

    public let policy: AdaptationPolicy
    public let anchor: ReadoutWeights
    public private(set) var current: ReadoutWeights
    public private(set) var updates: Int
    private var w: [Float]
    private var b: [Float]
    private var fastSurprise = 0.0
    private var slowSurprise = 0.0
    private var surpriseCount = 0
    private var armed = true
    private let anchorNorm: Double
    /// Nats added to the slow surprise level in noradrenaline's denominator.
    static let surpriseFloor = 0.5

    /// Starts from `start` (the alias's version), pulled toward and bounded around `anchor` (the
    /// version adaptation began from); `updates` continues an earlier count.
    public init(policy: AdaptationPolicy, anchor: ReadoutWeights, start: ReadoutWeights, updates: Int = 0) {
        precondition(anchor.features == start.features && anchor.classes == start.classes)
        self.policy = policy
        self.anchor = anchor
        current = start
        w = start.weights
        b = start.bias
        self.updates = updates
        let sq = anchor.weights.reduce(0.0) { $0 + Double($1) * Double($1) } + anchor.bias.reduce(0.0) { $0 + Double($1) * Double($1) }
        anchorNorm = max(sq.squareRoot(), 1e-12)
    }

    /// Replaces the weights (a rollback: the alias moved to another version); the surprise
    /// averages restart.
    public func reset(to weights: ReadoutWeights) {
        current = weights
        w = weights.weights
        b = weights.bias
        fastSurprise = 0
        slowSurprise = 0
        surpriseCount = 0
        armed = true
    }

    /// The current distance from the anchor, relative to its norm.
    public var drift: Double { distanceFromAnchor() / anchorNorm }

    private func distanceFromAnchor() -> Double {
        var s = 0.0
        for i in 0..<w.count { let d = Double(w[i] - anchor.weights[i]); s += d * d }
        for i in 0..<b.count { let d = Double(b[i] - anchor.bias[i]); s += d * d }
        return s.squareRoot()
    }

    /// One update from feedback on the prediction whose features were `h` and whose answer was
    /// class `answered`; ``current`` holds the new weights afterwards. Returns nil, changing
    /// nothing, for features or an outcome that do not fit this readout, or an update that would
    /// not be finite (features too large for Float).
    public func learn(features h: [Float], answered: Int, outcome: AdaptationOutcome) -> Step? {
        let k = current.classes, f = current.features
        guard h.count == f, (0..<k).contains(answered), h.allSatisfy(\.isFinite) else { return nil }
        switch outcome {
        case .label(let y): guard (0..<k).contains(y) else { return nil }
        case .reward(let r): guard r.isFinite, (0...1).contains(r) else { return nil }
        }
        let p = h.withUnsafeBufferPointer { current.probabilities($0.baseAddress!, rows: 1) }
        guard p.allSatisfy(\.isFinite) else { return nil }
        var best = 0
        for c in 1..<k where p[c] > p[best] { best = c }
        let target: Int, dopamine: Double, surprise: Double
        var correct: Bool?
        switch outcome {
        case .label(let y):
            target = y
            dopamine = 1 - Double(p[y])
            surprise = -log(max(Double(p[y]), 1e-7))
            correct = best == y
        case .reward(let r):
            target = answered
            dopamine = r - Double(p[answered])
            surprise = abs(dopamine)
        }
        // Noradrenaline: the excess of recent surprise over its long-run level (kept in locals,
        // committed only with the update).
        var na = 0.0, shift = false
        var fast = fastSurprise, slow = slowSurprise, count = surpriseCount, rearmed = armed
        if let n = policy.noradrenaline {
            // Running means that start as plain means (rate 1/n until it falls to the policy's):
            // no warm-up transient from whatever the first feedback happened to be.
            count += 1
            let seen = Double(count)
            fast += max(n.fastRate, 1 / seen) * (surprise - fast)
            slow += max(n.slowRate, 1 / seen) * (surprise - slow)
            na = min(max(0, fast - slow) / (slow + Self.surpriseFloor), 10)
            if rearmed && na >= n.threshold { shift = true; rearmed = false }
            if na < n.threshold / 2 { rearmed = true }
        }
        let plasticity = 1 + (policy.noradrenaline?.gain ?? 0) * na
        // Dopamine-gated update of the readout: ΔW = η · plasticity · δ · h ⊗ (onehot(target) − p).
        let scale = Float(policy.learningRate * plasticity * dopamine)
        var e = p.map { -$0 }
        e[target] += 1
        for i in 0..<f where h[i] != 0 {
            let hi = scale * h[i]
            for c in 0..<k { w[i * k + c] += hi * e[c] }
        }
        for c in 0..<k { b[c] += scale * e[c] }
        // Serotonin: a pull back toward the registered readout, weaker while NA is high.
        if policy.consolidation > 0 {
            let pull = Float(policy.consolidation / plasticity)
            for i in 0..<w.count { w[i] -= pull * (w[i] - anchor.weights[i]) }
            for i in 0..<b.count { b[i] -= pull * (b[i] - anchor.bias[i]) }
        }
        // The hard bound on drift: project back onto the ball around the anchor.
        var distance = distanceFromAnchor()
        let limit = policy.maxDrift * anchorNorm
        if distance > limit {
            let s = Float(limit / distance)
            for i in 0..<w.count { w[i] = anchor.weights[i] + s * (w[i] - anchor.weights[i]) }
            for i in 0..<b.count { b[i] = anchor.bias[i] + s * (b[i] - anchor.bias[i]) }
            distance = limit
        }
        guard distance.isFinite, w.allSatisfy(\.isFinite), b.allSatisfy(\.isFinite) else {
            w = current.weights   // not finite: undone, as if it never happened
            b = current.bias
            return nil
        }
        updates += 1
        (fastSurprise, slowSurprise, surpriseCount, armed) = (fast, slow, count, rearmed)
        current = ReadoutWeights(features: f, classes: k, weights: w, bias: b)
        return Step(dopamine: dopamine, surprise: surprise, noradrenaline: na, plasticity: plasticity,
                    drift: distance / anchorNorm, shiftDetected: shift, correct: correct)
    }
}
