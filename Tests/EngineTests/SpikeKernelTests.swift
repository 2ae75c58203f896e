import XCTest
import CSpikeKernels
@testable import Engine

/// The spiking engine's C kernels: each instruction set this CPU runs computes what plain Swift
/// loops compute, bit for bit, and a network trains to the same bits on each.
final class SpikeKernelTests: XCTestCase {
    override func tearDown() { SpikeKernels.use(nil) }

    private func randomEvents(rows: Int, inputs: Int, density: Double, rng: inout RandomSource) -> (indices: [Int32], starts: [Int32]) {
        var indices: [Int32] = [], starts: [Int32] = []
        for _ in 0..<rows {
            starts.append(Int32(indices.count))
            for i in 0..<inputs where rng.uniform() < density { indices.append(Int32(i)) }
        }
        starts.append(Int32(indices.count))
        return (indices, starts)
    }

    /// Shapes cover whole 256- and 64-column panels, single vectors, float tails, an input that
    /// never spikes, and more rows than one cache block of the weight gradient.
    func testEventProductsEqualSwiftLoopsOnEveryInstructionSet() {
        var rng = RandomSource(seed: 9)
        for (rows, inputs, n, density) in [(7, 50, 70, 0.2), (300, 40, 256, 0.3), (130, 33, 300, 0.05), (5, 12, 10, 0.9), (600, 20, 24, 0.5)] {
            var (indices, starts) = randomEvents(rows: rows, inputs: inputs, density: density, rng: &rng)
            // Input 3 stays silent: its gradient row must come out zero.
            let silent = Int32(3)
            var kept: [Int32] = [], keptStarts: [Int32] = []
            for r in 0..<rows {
                keptStarts.append(Int32(kept.count))
                kept += indices[Int(starts[r])..<Int(starts[r + 1])].filter { $0 != silent }
            }
            keptStarts.append(Int32(kept.count))
            (indices, starts) = (kept, keptStarts)
            let w = (0..<(inputs * n)).map { _ in Float(rng.normal()) }, bias = (0..<n).map { _ in Float(rng.normal()) }
            let d = (0..<(rows * n)).map { _ in Float(rng.normal()) }
            let gain: Float = 0.75
            // Plain Swift: the same additions in the same order.
            var out = [Float](repeating: 0, count: rows * n), gw = [Float](repeating: 0, count: inputs * n)
            for r in 0..<rows {
                for c in 0..<n {
                    var a = bias[c]
                    for k in Int(starts[r])..<Int(starts[r + 1]) { a += w[Int(indices[k]) * n + c] }
                    out[r * n + c] = a * gain
                }
                for k in Int(starts[r])..<Int(starts[r + 1]) {
                    for c in 0..<n { gw[Int(indices[k]) * n + c] += d[r * n + c] }
                }
            }
            for isa in SpikeKernels.available {
                XCTAssertEqual(SpikeKernels.use(isa), isa)
                let fast = SpikeKernels.eventsForward(indices: indices, rowStart: starts, weights: w, bias: bias, columns: n, gain: gain)
                XCTAssertEqual(fast.map(\.bitPattern), out.map(\.bitPattern), "forward, \(isa), \(rows)×\(inputs)×\(n)")
                let grad = SpikeKernels.eventsWeightGradient(indices: indices, rowStart: starts, delta: d, columns: n, inputs: inputs)
                XCTAssertEqual(grad.map(\.bitPattern), gw.map(\.bitPattern), "weight gradient, \(isa), \(rows)×\(inputs)×\(n)")
                XCTAssertTrue(grad[(Int(silent) * n)..<(Int(silent) * n + n)].allSatisfy { $0 == 0 })
            }
        }
    }

    /// The small-batch product of the MLP's layers: zero inputs (and negative zeros) are skipped,
    /// every other one adds its product in input order, bit for bit on each instruction set;
    /// shapes cover whole 256-column panels, single vectors and float tails.
    func testWeightedRowsEqualSwiftLoopsOnEveryInstructionSet() {
        var rng = RandomSource(seed: 11)
        for (rows, inputs, n) in [(1, 784, 256), (2, 50, 10), (3, 33, 300), (1, 20, 16), (2, 7, 1), (1, 64, 272)] {
            let w = (0..<(inputs * n)).map { _ in Float(rng.normal()) }
            let x = (0..<(rows * inputs)).map { _ -> Float in
                let u = rng.uniform()
                return u < 0.4 ? 0 : u < 0.5 ? -0.0 : Float(rng.normal())
            }
            var expected = [Float](repeating: 0, count: rows * n)
            for r in 0..<rows {
                for c in 0..<n {
                    var a: Float = 0
                    for j in 0..<inputs where x[r * inputs + j] != 0 { a = a + w[j * n + c] * x[r * inputs + j] }
                    expected[r * n + c] = a
                }
            }
            for isa in SpikeKernels.available {
                XCTAssertEqual(SpikeKernels.use(isa), isa)
                var out = [Float](repeating: .nan, count: rows * n)
                nm_weighted_rows(x, rows, inputs, w, n, &out)
                XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "\(isa), \(rows)×\(inputs)×\(n)")
            }
        }
    }

    func testFusedLIFEqualsSwiftLoopsOnEveryInstructionSet() {
        var rng = RandomSource(seed: 4)
        let steps = 9, batch = 3, n = 37, slope: Float = 25, shift: Float = 0.1
        let rows = steps * batch
        let current = (0..<(rows * n)).map { _ in Float(rng.normal() * 0.8 + 0.3) }
        let beta = (0..<n).map { _ in Float(0.8 + 0.19 * rng.uniform()) }, theta = (0..<n).map { _ in Float(0.7 + 0.6 * rng.uniform()) }
        let gradSpikes = (0..<(rows * n)).map { _ in Float(rng.normal()) }
        for zeroReset in [false, true] {
            var U = [Float](repeating: 0, count: rows * n), S = U, dI = U
            var spikes: Float = 0
            for t in 0..<steps {
                for i in 0..<(batch * n) {
                    let o = t * batch * n + i, c = i % n, th = theta[c] + shift
                    var u = current[o]
                    if t > 0 {
                        let pu = U[o - batch * n], ps = S[o - batch * n]
                        u += zeroReset ? beta[c] * pu * (1 - ps) : beta[c] * pu - th * ps
                    }
                    U[o] = u
                    S[o] = u > th ? 1 : 0
                    spikes += S[o]
                }
            }
            var du = [Float](repeating: 0, count: batch * n)
            for t in stride(from: steps - 1, through: 0, by: -1) {
                for i in 0..<(batch * n) {
                    let o = t * batch * n + i, c = i % n
                    let denom = 1 + slope * abs(U[o] - (theta[c] + shift))
                    let g = gradSpikes[o] / (denom * denom)
                    let total = g + (zeroReset ? beta[c] * (1 - S[o]) : beta[c]) * du[i]
                    du[i] = total
                    dI[o] = total
                }
            }
            XCTAssertGreaterThan(spikes, 0)
            for isa in SpikeKernels.available {
                SpikeKernels.use(isa)
                var u2 = [Float](repeating: .nan, count: rows * n), s2 = u2, d2 = u2, carry = [Float](repeating: .nan, count: batch * n)
                let count = nm_lif_forward(current, &u2, &s2, steps, batch, n, beta, theta, shift, zeroReset ? 1 : 0)
                nm_lif_backward(gradSpikes, u2, s2, &d2, steps, batch, n, beta, theta, shift, slope, zeroReset ? 1 : 0, &carry)
                XCTAssertEqual(count, Double(spikes), "\(isa)")
                XCTAssertEqual(u2.map(\.bitPattern), U.map(\.bitPattern), "membrane, \(isa), zero reset \(zeroReset)")
                XCTAssertEqual(s2, S, "spikes, \(isa)")
                XCTAssertEqual(d2.map(\.bitPattern), dI.map(\.bitPattern), "current gradient, \(isa), zero reset \(zeroReset)")
            }
        }
    }

    /// Rate coding: the same spikes on every instruction set (whole groups of 16 pixels and a
    /// partial last group), 0 never spikes, 1 always does, and each pixel spikes at its rate.
    func testRateCodeIsTheSameEverywhereAndSpikesAtEachPixelsRate() {
        var rng = RandomSource(seed: 11)
        for inputs in [784, 37] {
            let count = 6, steps = 400
            var pixels = (0..<(count * inputs)).map { _ in Float(rng.uniform()) }
            pixels[0] = 0; pixels[1] = 1; pixels[inputs - 1] = 1
            let state = RandomSource(seed: 3, stream: 9).words
            var reference: (indices: [Int32], starts: [Int32])?
            for isa in SpikeKernels.available {
                SpikeKernels.use(isa)
                var indices = [Int32](repeating: -1, count: steps * count * inputs + 16), starts = [Int32](repeating: -1, count: steps * count + 1)
                let events = nm_rate_encode(pixels, count, inputs, steps, state, &indices, &starts, nil, nil, nil, nil)
                XCTAssertEqual(Int(starts.last!), events)
                let got = (Array(indices.prefix(events)), starts)
                if let reference {
                    XCTAssertEqual(got.0, reference.indices, "\(isa), \(inputs) inputs")
                    XCTAssertEqual(got.1, reference.starts, "\(isa), \(inputs) inputs")
                } else {
                    reference = got
                }
            }
            let (indices, starts) = reference!
            var spikes = [Int](repeating: 0, count: count * inputs)
            for r in 0..<(steps * count) {
                let row = Array(indices[Int(starts[r])..<Int(starts[r + 1])])
                XCTAssertEqual(row, row.sorted(), "ascending within a row")
                XCTAssertEqual(Set(row).count, row.count)
                for j in row { spikes[(r % count) * inputs + Int(j)] += 1 }
            }
            XCTAssertEqual(spikes[0], 0, "a 0 pixel never spikes")
            XCTAssertEqual(spikes[1], steps, "a 1 pixel always does")
            XCTAssertEqual(spikes[inputs - 1], steps, "the last pixel of a partial group is drawn too")
            for i in 2..<(count * inputs) where i % inputs != inputs - 1 {
                let p = Double(pixels[i]), sd = (Double(steps) * p * (1 - p)).squareRoot()
                XCTAssertEqual(Double(spikes[i]), Double(steps) * p, accuracy: 5 * sd + 1, "pixel \(i)")
            }
            // Neighbouring lanes are independent streams: two half-grey pixels of one group do not spike together.
            let grey = [Float](repeating: 0.5, count: 16)
            var idx = [Int32](repeating: 0, count: steps * 16 + 16), st = [Int32](repeating: 0, count: steps + 1)
            _ = nm_rate_encode(grey, 1, 16, steps, state, &idx, &st, nil, nil, nil, nil)
            var both = 0, first = 0
            for r in 0..<steps {
                let row = Set(idx[Int(st[r])..<Int(st[r + 1])])
                if row.contains(0) { first += 1; if row.contains(2) { both += 1 } }
            }
            XCTAssertEqual(Double(both), Double(first) / 2, accuracy: 5 * (Double(first) / 4).squareRoot() + 1)
        }
    }

    /// Rate coding's changes are the step-to-step differences of its events; the forward product
    /// carried along them, and the weight gradient summed by parts along them, equal the same
    /// recurrences in Swift bit for bit on every instruction set (both restart every 32nd step),
    /// and the plain sums to rounding.
    func testForwardAlongChangesEqualsItsRecurrenceAndTheSums() {
        var rng = RandomSource(seed: 21)
        for (inputs, n, steps) in [(784, 256, 70), (50, 70, 40), (33, 10, 5)] {
            let count = 3, rows = steps * count, room = rows * inputs + 16
            var pixels = (0..<(count * inputs)).map { _ in Float(rng.uniform() < 0.3 ? 0 : rng.uniform()) }
            pixels[1] = 1
            let w = (0..<(inputs * n)).map { _ in Float(rng.normal() * 0.05) }, bias = (0..<n).map { _ in Float(rng.normal() * 0.1) }
            let state = RandomSource(seed: 8, stream: 2).words
            var idx = [Int32](repeating: 0, count: room), rs = [Int32](repeating: 0, count: rows + 1)
            var on = idx, off = idx, ons = rs, offs = rs
            _ = nm_rate_encode(pixels, count, inputs, steps, state, &idx, &rs, &on, &ons, &off, &offs)
            func list(_ a: [Int32], _ s: [Int32], _ r: Int) -> [Int32] { Array(a[Int(s[r])..<Int(s[r + 1])]) }
            for r in 0..<rows {
                let now = Set(list(idx, rs, r)), before = r < count ? [] : Set(list(idx, rs, r - count))
                XCTAssertEqual(Set(list(on, ons, r)), now.subtracting(before), "row \(r) starts")
                XCTAssertEqual(Set(list(off, offs, r)), before.subtracting(now), "row \(r) stops")
            }
            // The recurrence in Swift, in the kernel's order.
            let gain: Float = 1.25
            var expected = [Float](repeating: 0, count: rows * n)
            for b in 0..<count {
                for c in 0..<n {
                    var a: Float = 0
                    for t in 0..<steps {
                        let r = t * count + b
                        if t % 32 == 0 {
                            a = bias[c]
                            for k in list(idx, rs, r) { a += w[Int(k) * n + c] }
                        } else {
                            for k in list(on, ons, r) { a += w[Int(k) * n + c] }
                            for k in list(off, offs, r) { a -= w[Int(k) * n + c] }
                        }
                        expected[r * n + c] = a * gain
                    }
                }
            }
            let sums = SpikeKernels.eventsForward(indices: Array(idx.prefix(Int(rs[rows]))), rowStart: rs, weights: w, bias: bias, columns: n, gain: gain)
            for isa in SpikeKernels.available {
                SpikeKernels.use(isa)
                var out = [Float](repeating: .nan, count: rows * n)
                nm_events_forward_changes(idx, rs, on, ons, off, offs, steps, count, w, bias, n, gain, &out)
                XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "\(isa), \(inputs)×\(n), \(steps) steps")
                for i in out.indices { XCTAssertEqual(out[i], sums[i], accuracy: 2e-5 * max(1, abs(sums[i]))) }
            }
            // The weight gradient by summation by parts along the same changes.
            let delta = (0..<(rows * n)).map { _ in Float(rng.normal()) }
            var prefix = [Float](repeating: 0, count: rows * n)
            for t in 0..<steps {
                for i in 0..<(count * n) {
                    let o = t * count * n + i
                    prefix[o] = t % 32 == 0 ? delta[o] : prefix[o - count * n] + delta[o]
                }
            }
            var plus = [[Int]](repeating: [], count: inputs), minus = plus
            for t in 0..<steps {
                let inside = t + 1 < steps && (t + 1) % 32 != 0
                for b in 0..<count {
                    let p = t * count + b
                    for k in inside ? list(off, offs, p + count) : list(idx, rs, p) { plus[Int(k)].append(p) }
                    if inside { for k in list(on, ons, p + count) { minus[Int(k)].append(p) } }
                }
            }
            var expectedGradient = [Float](repeating: 0, count: inputs * n)
            for i in 0..<inputs {
                for c in 0..<n {
                    var a: Float = 0
                    for p in plus[i] { a += prefix[p * n + c] }
                    for p in minus[i] { a -= prefix[p * n + c] }
                    expectedGradient[i * n + c] = a
                }
            }
            let plain = SpikeKernels.eventsWeightGradient(indices: Array(idx.prefix(Int(rs[rows]))), rowStart: rs, delta: delta, columns: n, inputs: inputs)
            for isa in SpikeKernels.available {
                SpikeKernels.use(isa)
                var pre = [Float](repeating: .nan, count: rows * n)
                nm_block_prefix_sums(delta, steps, count, n, &pre)
                XCTAssertEqual(pre.map(\.bitPattern), prefix.map(\.bitPattern), "\(isa)")
                var pr = [Int32](repeating: -1, count: Int(rs[rows] + offs[rows]) + 1), mr = [Int32](repeating: -1, count: Int(ons[rows]) + 1)
                var ps = [Int32](repeating: -1, count: inputs + 1), ms = ps, gw = [Float](repeating: .nan, count: inputs * n)
                nm_changes_transpose(idx, rs, on, ons, off, offs, steps, count, inputs, &pr, &ps, &mr, &ms)
                for i in 0..<inputs {
                    XCTAssertEqual(pr[Int(ps[i])..<Int(ps[i + 1])].map(Int.init), plus[i], "\(isa): rows added for input \(i)")
                    XCTAssertEqual(mr[Int(ms[i])..<Int(ms[i + 1])].map(Int.init), minus[i], "\(isa): rows subtracted for input \(i)")
                }
                nm_changes_weight_gradient(pr, ps, mr, ms, inputs, pre, rows, n, &gw)
                XCTAssertEqual(gw.map(\.bitPattern), expectedGradient.map(\.bitPattern), "\(isa), \(inputs)×\(n), \(steps) steps")
                for i in gw.indices { XCTAssertEqual(gw[i], plain[i], accuracy: 1e-4 * max(1, abs(plain[i]))) }
            }
        }
    }

    func testColumnSumsAdd() {
        for isa in SpikeKernels.available {
            SpikeKernels.use(isa)
            var out: [Float] = (0..<19).map { Float($0) }
            let x = (0..<(5 * 19)).map { Float($0 % 7) - 3 }
            nm_add_column_sums(x, 5, 19, &out)
            for c in 0..<19 { XCTAssertEqual(out[c], Float(c) + (0..<5).reduce(Float(0)) { $0 + x[$1 * 19 + c] }, "\(isa)") }
        }
    }

    func testTheCPUsBestInstructionSetIsTheDefault() throws {
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let best = SpikeKernels.use(nil)
        if flags.contains(" avx512f") {
            XCTAssertEqual(best, .avx512)
        } else if flags.contains(" avx2") && flags.contains(" fma") {
            XCTAssertEqual(best, .avx2)
        }
        XCTAssertEqual(SpikeKernels.available.last, best)
        XCTAssertEqual(SpikeKernels.use(.portable), .portable)
        XCTAssertEqual(SpikeKernels.instructionSet, .portable)
    }
}

final class SpikingKernelPathTests: XCTestCase {
    override func tearDown() { SpikeKernels.use(nil) }

    private func spec(_ snn: String = "{}") throws -> ExperimentSpec {
        try parseSpec(#"{"seed": 5, "data": {"train_limit": 640, "test_limit": 200}, "model": {"kind": "snn", "layers": [784, 40, 10], "snn": "#
                      + snn + #"}, "optimizer": {"learning_rate": 0.002}, "metrics_every_steps": 2, "checkpoint_every_steps": 100000}"#)
    }

    /// Training on each instruction set gives the same metrics, bit for bit.
    func testTrainingIsBitIdenticalOnEveryInstructionSet() throws {
        let (train, test) = try FashionMNIST.load()
        var reference: [String: [String]] = [:]
        for isa in SpikeKernels.available {
            SpikeKernels.use(isa)
            for snn in [#"{"steps": 8}"#, #"{"steps": 8, "reset": "zero", "heterogeneous_init": true}"#] {
                let t = TrainingLoop<SpikingFamily>(spec: try spec(snn), train: train, test: test)
                let o = RecordingObserver()
                _ = try t.run(observer: o)
                // Everything but the timings.
                let seen = o.metrics.filter { !$0.key.hasSuffix("per_s") }.map { "\($0.key) \($0.step) \($0.value.bitPattern)" }
                XCTAssertGreaterThan(seen.count, 10)
                if let first = reference[snn] { XCTAssertEqual(seen, first, "\(isa) \(snn)") } else { reference[snn] = seen }
            }
        }
    }

    /// The event-driven input layer computes what the dense GEMMs compute, to rounding.
    func testEventDrivenAndDenseInputLayersAgree() throws {
        let (train, test) = try FashionMNIST.load()
        let t = TrainingLoop<SpikingFamily>(spec: try spec(#"{"steps": 6}"#), train: train, test: test)
        let net = t.network, batch = 16
        let labels = (0..<batch).map { Int32($0 % 10) }
        t.family.pixelsForTesting(from: train, count: batch)
        t.family.encode(count: batch, stream: 7)
        func gradients(_ path: SpikingNetwork.InputPath) -> (scores: [Float], grads: [[Float]]) {
            net.inputPath = path
            let scores = net.forward(batch: batch)
            _ = labels.withUnsafeBufferPointer { net.loss(scores: scores, labels: $0.baseAddress!) }
            net.backward()
            return (scores, net.gradients.map(\.array))
        }
        let dense = gradients(.dense)
        for path in [SpikingNetwork.InputPath.events, .changes] {
            let other = gradients(path)
            XCTAssertEqual(other.scores, dense.scores, "the same spikes either way (\(path))")
            for (l, (e, d)) in zip(other.grads, dense.grads).enumerated() {
                let scale = d.map { abs($0) }.max() ?? 0
                XCTAssertGreaterThan(scale, 0)
                for i in e.indices { XCTAssertEqual(e[i], d[i], accuracy: 1e-4 * scale, "\(path): parameter \(l)[\(i)]") }
            }
        }
    }
}
