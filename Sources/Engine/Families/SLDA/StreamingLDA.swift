import Foundation
import CBLAS

/// Class means and the pooled within-class scatter of a stream of labelled vectors, updated a batch
/// at a time exactly (Chan et al.'s pairwise update: S += S_batch + n_a·n_b/(n_a + n_b)·(μ_a − m_b)(μ_a − m_b)ᵀ
/// per class), and the linear classifier they define: scores = x·W + b with
/// W = Λ·M, b_k = −½ μ_kᵀ Λ μ_k, Λ = ((1 − ε)·S/N + ε·I)⁻¹. Classes never seen are never predicted.
/// Hayes & Kanan (2020) update the covariance with a running per-sample approximation; this keeps
/// the exact pooled covariance instead, so the result does not depend on batch size or order.
public final class StreamingLDA {
    public let features: Int
    public let classes: Int
    public let shrinkage: Double
    /// Per class: samples seen, and their mean (classes × features).
    public let counts: FloatBuffer
    public let means: FloatBuffer
    /// Σ over classes of the within-class scatter (features × features).
    public let scatter: FloatBuffer
    private var weights: [Float] = []
    private var bias: [Float] = []
    private var fresh = false
    private var centered: [Float] = []

    public init(features: Int, classes: Int, shrinkage: Double) {
        self.features = features
        self.classes = classes
        self.shrinkage = shrinkage
        counts = FloatBuffer(count: classes)
        means = FloatBuffer(count: classes * features)
        scatter = FloatBuffer(count: features * features)
    }

    /// Adds `count` rows of `x` (count × features) with their classes.
    public func update(_ x: UnsafePointer<Float>, labels: [Int], count: Int) {
        let d = features
        for k in 0..<classes {
            let rows = (0..<count).filter { labels[$0] == k }
            guard !rows.isEmpty else { continue }
            let nb = Float(rows.count), na = counts[k]
            var batchMean = [Float](repeating: 0, count: d)
            for r in rows { for j in 0..<d { batchMean[j] += x[r * d + j] } }
            for j in 0..<d { batchMean[j] /= nb }
            if centered.count < rows.count * d { centered = [Float](repeating: 0, count: rows.count * d) }
            centered.withUnsafeMutableBufferPointer { c in
                for (i, r) in rows.enumerated() { for j in 0..<d { c[i * d + j] = x[r * d + j] - batchMean[j] } }
                // S += Xcᵀ Xc (the batch's own scatter)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(rows.count),
                            1, c.baseAddress!, Int32(d), c.baseAddress!, Int32(d), 1, scatter.pointer, Int32(d))
            }
            let mu = means.pointer + k * d
            if na > 0 {
                // + n_a n_b / (n_a + n_b) · δδᵀ, δ = μ_a − m_b
                var delta = (0..<d).map { mu[$0] - batchMean[$0] }
                delta.withUnsafeMutableBufferPointer { v in
                    cblas_sger(CblasRowMajor, Int32(d), Int32(d), na * nb / (na + nb), v.baseAddress!, 1, v.baseAddress!, 1,
                               scatter.pointer, Int32(d))
                }
            }
            for j in 0..<d { mu[j] = (na * mu[j] + nb * batchMean[j]) / (na + nb) }
            counts[k] = na + nb
        }
        fresh = false
    }

    /// Scores (count × classes) of `count` rows of `x`; unseen classes score −∞.
    public func scores(_ x: UnsafePointer<Float>, count: Int) -> [Float] {
        if !fresh { solve() }
        var out = [Float](repeating: 0, count: count * classes)
        weights.withUnsafeBufferPointer { w in
            out.withUnsafeMutableBufferPointer { o in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(classes), Int32(features),
                            1, x, Int32(features), w.baseAddress!, Int32(classes), 0, o.baseAddress!, Int32(classes))
            }
        }
        for r in 0..<count { for k in 0..<classes { out[r * classes + k] += bias[k] } }
        return out
    }

    /// W = Λ M and b by a Cholesky factorisation of the shrunk covariance (LAPACK, in Double).
    private func solve() {
        let d = features
        let n = Double(max((0..<classes).reduce(Float(0)) { $0 + counts[$1] }, 1))
        var a = [Double](repeating: 0, count: d * d)
        for i in 0..<(d * d) { a[i] = (1 - shrinkage) * Double(scatter.pointer[i]) / n }
        for i in 0..<d { a[i * d + i] += shrinkage }
        // Column-major "L" of a symmetric matrix = row-major "U": either way the same numbers.
        var info: Int32 = 0
        var dim = Int32(d)
        var uplo = CChar(UInt8(ascii: "L"))
        a.withUnsafeMutableBufferPointer { dpotrf_(&uplo, &dim, $0.baseAddress!, &dim, &info) }
        let seen = (0..<classes).filter { counts[$0] > 0 }
        weights = [Float](repeating: 0, count: d * classes)
        bias = [Float](repeating: -.infinity, count: classes)
        guard info == 0, !seen.isEmpty else { fresh = true; return }
        // Right-hand sides: one mean per seen class, column-major (d × seen).
        var rhs = [Double](repeating: 0, count: d * seen.count)
        for (c, k) in seen.enumerated() { for j in 0..<d { rhs[c * d + j] = Double(means.pointer[k * d + j]) } }
        let mus = rhs
        var nrhs = Int32(seen.count)
        a.withUnsafeBufferPointer { l in rhs.withUnsafeMutableBufferPointer { dpotrs_(&uplo, &dim, &nrhs, l.baseAddress!, &dim, $0.baseAddress!, &dim, &info) } }
        for (c, k) in seen.enumerated() {
            var quad = 0.0
            for j in 0..<d {
                weights[j * classes + k] = Float(rhs[c * d + j])
                quad += mus[c * d + j] * rhs[c * d + j]
            }
            bias[k] = Float(-0.5 * quad)
        }
        fresh = true
    }

    /// Marks the statistics as changed (after they were loaded from a checkpoint).
    public func invalidate() { fresh = false }
}
