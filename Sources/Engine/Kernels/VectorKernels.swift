/// Elementwise kernels written with explicit SIMD so they vectorise regardless of aliasing analysis.
enum VectorKernels {
    /// `row[c] = max(row[c] + b[c], 0)` for `c < n`.
    @inline(__always)
    static func addBiasReLU(_ row: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) {
        var c = 0
        while c + 8 <= n {
            let z = UnsafeRawPointer(row + c).loadUnaligned(as: SIMD8<Float>.self)
            let bias = UnsafeRawPointer(b + c).loadUnaligned(as: SIMD8<Float>.self)
            var v = z + bias
            v.replace(with: 0, where: v .< 0)
            UnsafeMutableRawPointer(row + c).storeBytes(of: v, as: SIMD8<Float>.self)
            c += 8
        }
        while c < n {
            row[c] = max(row[c] + b[c], 0)
            c += 1
        }
    }

    /// `row[c] = max(g·(row[c] + b[c]) − θ, 0)` for `c < n` (modulated ReLU).
    @inline(__always)
    static func affineReLU(_ row: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int, gain g: Float, threshold th: Float) {
        var c = 0
        let gv = SIMD8<Float>(repeating: g), tv = SIMD8<Float>(repeating: th)
        while c + 8 <= n {
            let z = UnsafeRawPointer(row + c).loadUnaligned(as: SIMD8<Float>.self)
            let bias = UnsafeRawPointer(b + c).loadUnaligned(as: SIMD8<Float>.self)
            var v = gv * (z + bias) - tv
            v.replace(with: 0, where: v .< 0)
            UnsafeMutableRawPointer(row + c).storeBytes(of: v, as: SIMD8<Float>.self)
            c += 8
        }
        while c < n {
            row[c] = max(g * (row[c] + b[c]) - th, 0)
            c += 1
        }
    }

    /// `d[i] = y[i] > 0 ? d[i] : 0` for `i < n` (ReLU backward through its outputs).
    @inline(__always)
    static func reluBackward(_ d: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            var dv = UnsafeRawPointer(d + i).loadUnaligned(as: SIMD8<Float>.self)
            dv.replace(with: 0, where: yv .<= 0)
            UnsafeMutableRawPointer(d + i).storeBytes(of: dv, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            if y[i] <= 0 { d[i] = 0 }
            i += 1
        }
    }
}
