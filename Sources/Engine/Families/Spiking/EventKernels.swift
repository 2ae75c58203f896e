/// Event-driven kernels for binary input spikes held as index lists (CSR by time-major row):
/// a row's input current is the sum of the weight rows of the inputs that spiked. Columns are
/// processed in panels of 64 so a panel of W stays in L2 and the accumulators in SIMD registers.
enum EventKernels {
    typealias V8 = SIMD8<Float>

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V8 { UnsafeRawPointer(p).loadUnaligned(as: V8.self) }
    @inline(__always) static func store(_ v: V8, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self) }

    /// out[r, :] = bias + Σ_{i ∈ events(r)} W[i, :] for every row r.
    static func forward(indices: UnsafePointer<Int32>, rowStart: UnsafePointer<Int32>, rows: Int,
                        weights w: UnsafePointer<Float>, bias: UnsafePointer<Float>, columns n: Int,
                        out: UnsafeMutablePointer<Float>) {
        var c0 = 0
        while c0 + 64 <= n {
            let b0 = load(bias + c0), b1 = load(bias + c0 + 8), b2 = load(bias + c0 + 16), b3 = load(bias + c0 + 24)
            let b4 = load(bias + c0 + 32), b5 = load(bias + c0 + 40), b6 = load(bias + c0 + 48), b7 = load(bias + c0 + 56)
            for r in 0..<rows {
                var a0 = b0, a1 = b1, a2 = b2, a3 = b3, a4 = b4, a5 = b5, a6 = b6, a7 = b7
                for k in Int(rowStart[r])..<Int(rowStart[r + 1]) {
                    let p = w + Int(indices[k]) * n + c0
                    a0 += load(p); a1 += load(p + 8); a2 += load(p + 16); a3 += load(p + 24)
                    a4 += load(p + 32); a5 += load(p + 40); a6 += load(p + 48); a7 += load(p + 56)
                }
                let o = out + r * n + c0
                store(a0, o); store(a1, o + 8); store(a2, o + 16); store(a3, o + 24)
                store(a4, o + 32); store(a5, o + 40); store(a6, o + 48); store(a7, o + 56)
            }
            c0 += 64
        }
        if c0 < n {
            for r in 0..<rows {
                let o = out + r * n
                for c in c0..<n { o[c] = bias[c] }
                for k in Int(rowStart[r])..<Int(rowStart[r + 1]) {
                    let p = w + Int(indices[k]) * n
                    for c in c0..<n { o[c] += p[c] }
                }
            }
        }
    }

    /// gradW[i, :] = Σ_{r : i ∈ events(r)} d[r, :] (gradW is overwritten).
    static func weightGradient(indices: UnsafePointer<Int32>, rowStart: UnsafePointer<Int32>, rows: Int,
                               delta d: UnsafePointer<Float>, columns n: Int, inputs: Int, gradW g: UnsafeMutablePointer<Float>) {
        g.update(repeating: 0, count: inputs * n)
        var c0 = 0
        while c0 + 64 <= n {
            for r in 0..<rows {
                let s = d + r * n + c0
                let d0 = load(s), d1 = load(s + 8), d2 = load(s + 16), d3 = load(s + 24)
                let d4 = load(s + 32), d5 = load(s + 40), d6 = load(s + 48), d7 = load(s + 56)
                for k in Int(rowStart[r])..<Int(rowStart[r + 1]) {
                    let p = g + Int(indices[k]) * n + c0
                    store(load(p) + d0, p); store(load(p + 8) + d1, p + 8); store(load(p + 16) + d2, p + 16); store(load(p + 24) + d3, p + 24)
                    store(load(p + 32) + d4, p + 32); store(load(p + 40) + d5, p + 40); store(load(p + 48) + d6, p + 48); store(load(p + 56) + d7, p + 56)
                }
            }
            c0 += 64
        }
        if c0 < n {
            for r in 0..<rows {
                for k in Int(rowStart[r])..<Int(rowStart[r + 1]) {
                    let p = g + Int(indices[k]) * n
                    for c in c0..<n { p[c] += d[r * n + c] }
                }
            }
        }
    }
}
