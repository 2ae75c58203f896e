import Foundation
import CBLAS
import CSpikeKernels

/// A spiking network `sizes[0] → hidden LIF/ALIF layers → readout`, simulated in discrete time
/// over `steps` steps, trained by surrogate-gradient BPTT (Neftci, Mostafa & Zenke, 2019).
///
/// Hidden neuron n of a layer: isyn[t] = α·isyn[t−1] + I[t] (when τ_syn > 0, else isyn = I),
/// u[t] = βₙ·u[t−1] + isyn[t] − θₙ·s[t−1] (reset by subtraction; `zero` reset: u[t] = βₙ·u[t−1]·(1 − s[t−1]) + isyn[t]),
/// s[t] = H(u[t] − θ_eff), θ_eff = θₙ (+ β_a·a[t], a[t] = ρ·a[t−1] + s[t−1] for ALIF).
/// Surrogate ∂s/∂u = 1 / (1 + k·|u − θ_eff|)² (fast sigmoid). Reset and adaptation are not
/// differentiated (as in snnTorch). Buffers are time-major: row (t·B + b).
public final class SpikingNetwork {
    public let spec: SpikingSpec
    public let sizes: [Int]
    public let weights: [FloatBuffer]
    public let biases: [FloatBuffer]
    /// Recurrent weights of hidden layers (N × N), when recurrent.
    public let recurrent: [FloatBuffer]
    /// Per hidden neuron: membrane decay β and threshold θ (trainable when configured).
    public let beta: [FloatBuffer]
    public let theta: [FloatBuffer]
    /// Added to every hidden threshold / multiplying every hidden input current (neuromodulators).
    public var thresholdShift: Float = 0
    public var inputGain: Float = 1

    let hiddenCount: Int
    private(set) var batch = 0
    var steps: Int { spec.steps }
    // Per layer (hidden layers, then the output layer): input current, membrane, spikes.
    private var current: [FloatBuffer] = []
    private var membrane: [FloatBuffer] = []
    private var spikes: [FloatBuffer] = []     // spikes[0] is the encoded input
    private var synaptic: [FloatBuffer] = []
    private var adaptationState: [FloatBuffer] = []
    private var gradCurrent: [FloatBuffer] = []
    private var gradSpikes: [FloatBuffer] = []
    private var capacity = 0
    /// Gradients, same order as ``parameters``.
    public private(set) var gradients: [FloatBuffer] = []
    /// The input spikes as events: for time-major row r, indices[rowStart[r]..<rowStart[r+1]].
    /// `eventIndices` may hold more than the events (room kept between batches):
    /// `eventRowStart[rows]` counts them.
    public var eventIndices: [Int32] = []
    public var eventRowStart: [Int32] = []
    /// Rate-coded input also as changes from each sample's previous step (inputs that start and
    /// stop spiking, by row like the events), valid when `hasChanges` (set by ``encodeRate``).
    private var changeOn: [Int32] = [], changeOnStart: [Int32] = [], changeOff: [Int32] = [], changeOffStart: [Int32] = []
    private var hasChanges = false
    /// Whether the last forward pass read the changes (then backward reads them too).
    private var usedChanges = false
    /// The input layer's weight gradient from changes: per-sample running sums of its current
    /// gradient, and by input the rows of them to add and subtract.
    private var prefix = FloatBuffer(count: 0)
    private var plusRows: [Int32] = [], plusStart: [Int32] = [], minusRows: [Int32] = [], minusStart: [Int32] = []
    /// Spikes of each layer's output in the last forward pass (index 0: input events).
    private var spikeCounts: [Double] = []
    /// The same input events by input (for the weight gradient): rows in which each input spiked.
    private var eventColumnRows: [Int32] = []
    private var eventColumnStart: [Int32] = []
    private var carry: FloatBuffer = FloatBuffer(count: 0)
    /// The readout's neurons as arrays, so hidden and output layers share the LIF kernels.
    private let outputBeta: FloatBuffer
    private let outputTheta: FloatBuffer
    private var useEvents = false
    /// How the input layer runs: by input density and change rate (default), or always from the
    /// events, from rate coding's changes, or dense (tests, benchmarks).
    enum InputPath { case byDensity, events, changes, dense }
    var inputPath = InputPath.byDensity
    /// e-prop's fixed random feedback weights (hidden × classes), when configured.
    public private(set) var feedbackWeights: FloatBuffer?

    public init(spec: SpikingSpec, sizes: [Int], rng: inout RandomSource) {
        self.spec = spec
        self.sizes = sizes
        hiddenCount = sizes.count - 2
        var ws: [FloatBuffer] = [], bs: [FloatBuffer] = []
        for l in 0..<(sizes.count - 1) {
            let k = Float(1 / Double(sizes[l]).squareRoot())   // PyTorch Linear's default range
            let w = FloatBuffer(count: sizes[l] * sizes[l + 1])
            for i in 0..<w.count { w.pointer[i] = Float(rng.uniform() * 2 - 1) * k }
            let b = FloatBuffer(count: sizes[l + 1])
            for i in 0..<b.count { b.pointer[i] = Float(rng.uniform() * 2 - 1) * k }
            ws.append(w); bs.append(b)
        }
        weights = ws
        biases = bs
        var rec: [FloatBuffer] = [], betas: [FloatBuffer] = [], thetas: [FloatBuffer] = []
        for l in 0..<hiddenCount {
            let n = sizes[l + 1]
            if spec.recurrent {
                let v = FloatBuffer(count: n * n)
                let k = Float(1 / Double(n).squareRoot())
                for i in 0..<v.count { v.pointer[i] = Float(rng.uniform() * 2 - 1) * k }
                rec.append(v)
            }
            let b = FloatBuffer(count: n), t = FloatBuffer(count: n)
            for i in 0..<n {
                var tau = spec.heterogeneousInit ? SpikingNetwork.gamma(shape: spec.tauShape, mean: spec.tauMem, rng: &rng) : spec.tauMem
                if spec.heterogeneousInit { tau = min(spec.tauMax ?? .infinity, max(spec.tauMin ?? 0, tau)) }
                b.pointer[i] = Float(spec.decay(max(tau, spec.dt * 0.01)))
                let spread = spec.heterogeneousInit ? spec.thresholdSpread : 0
                t.pointer[i] = Float(spec.threshold * (1 + spread * (rng.uniform() * 2 - 1)))
            }
            betas.append(b); thetas.append(t)
        }
        recurrent = rec
        beta = betas
        theta = thetas
        if spec.learning == "eprop" && spec.feedback == "random" {
            let n = sizes[1], classes = sizes[2]
            let f = FloatBuffer(count: n * classes)
            for i in 0..<f.count { f.pointer[i] = Float(rng.normal() / Double(n).squareRoot()) }
            feedbackWeights = f
        }
        outputBeta = FloatBuffer(count: sizes[sizes.count - 1])
        outputBeta.fill(Float(spec.decay(spec.tauMem)))
        outputTheta = FloatBuffer(count: sizes[sizes.count - 1])
        outputTheta.fill(1)
        gradients = parameters.map { FloatBuffer(count: $0.count) }
    }

    // Accessors for the e-prop extension.
    func gradSpikesPointer(_ l: Int) -> UnsafeMutablePointer<Float> { gradSpikes[l - 1].pointer }
    func membranePointer(_ l: Int) -> UnsafePointer<Float> { UnsafePointer(membrane[l].pointer) }
    func gradCurrentPointer(_ l: Int) -> UnsafeMutablePointer<Float> { gradCurrent[l].pointer }
    func spikesPointer(_ l: Int) -> UnsafePointer<Float> { UnsafePointer(spikes[l].pointer) }
    /// The input spikes as a dense time-major matrix (filled from the events when needed).
    func inputPointer(rows: Int) -> UnsafePointer<Float> {
        if useEvents { writeDenseInput(rows: rows) }
        return UnsafePointer(spikes[0].pointer)
    }

    /// Writes the input events into `spikes[0]` as a dense 0/1 matrix (rows × inputs).
    private func writeDenseInput(rows: Int) {
        let dense = spikes[0].pointer, nIn = sizes[0]
        dense.update(repeating: 0, count: rows * nIn)
        for r in 0..<rows {
            for k in Int(eventRowStart[r])..<Int(eventRowStart[r + 1]) { dense[r * nIn + Int(eventIndices[k])] = 1 }
        }
    }

    /// Gradient of the readout layer's weights and bias (the last layer), exact.
    func readoutGradients() {
        let l = sizes.count - 2, n = sizes[l + 1], nIn = sizes[l], rows = steps * batch
        readoutBackward(l)
        let dI = gradCurrent[l].pointer
        let (gW, gB) = (gradients[2 * l], gradients[2 * l + 1])
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(nIn), Int32(n), Int32(rows),
                    1, spikes[l].pointer, Int32(nIn), dI, Int32(n), 0, gW.pointer, Int32(n))
        for r in 0..<rows { for c in 0..<n { gB.pointer[c] += dI[r * n + c] } }
    }

    /// Every trainable tensor, in a fixed order (weights and biases per layer, recurrent weights,
    /// then β and θ per hidden layer when neuron parameters train).
    public var parameters: [FloatBuffer] {
        var p: [FloatBuffer] = []
        for l in 0..<weights.count { p.append(weights[l]); p.append(biases[l]) }
        p += recurrent
        if spec.trainNeuronParameters { p += beta; p += theta }
        return p
    }

    public var parameterNames: [String] {
        var n: [String] = []
        for l in 0..<weights.count { n.append("layers.\(l).weight"); n.append("layers.\(l).bias") }
        for l in 0..<recurrent.count { n.append("layers.\(l).recurrent") }
        if spec.trainNeuronParameters {
            for l in 0..<beta.count { n.append("layers.\(l).beta") }
            for l in 0..<theta.count { n.append("layers.\(l).threshold") }
        }
        return n
    }

    private func ensure(_ b: Int) {
        batch = b
        let rows = steps * b
        guard rows > capacity else { return }
        capacity = rows
        spikes = [FloatBuffer(count: rows * sizes[0])]   // dense copy of the input events, when dense wins
        current = []; membrane = []; synaptic = []; adaptationState = []; gradCurrent = []; gradSpikes = []
        for l in 1..<sizes.count {
            current.append(FloatBuffer(count: rows * sizes[l]))
            membrane.append(FloatBuffer(count: rows * sizes[l]))
            spikes.append(FloatBuffer(count: rows * sizes[l]))
            synaptic.append(FloatBuffer(count: spec.tauSyn > 0 ? rows * sizes[l] : 0))
            adaptationState.append(FloatBuffer(count: spec.neuron == .alif ? rows * sizes[l] : 0))
            gradCurrent.append(FloatBuffer(count: rows * sizes[l]))
            gradSpikes.append(FloatBuffer(count: rows * sizes[l]))
        }
        carry = FloatBuffer(count: b * (sizes.dropFirst().max() ?? 1))
    }

    /// Prepares for a batch of `b` samples whose input spikes the caller writes as events into
    /// ``eventIndices`` / ``eventRowStart`` (steps·b rows, time-major), then calls ``forward(batch:)``.
    public func prepare(batch b: Int) {
        ensure(b)
        hasChanges = false
    }

    /// Rate-codes `count` samples (`pixels`: count × inputs, values in [0, 1]) into the input
    /// events and their step-to-step changes, drawing from generator state `state` (four words).
    public func encodeRate(_ pixels: UnsafePointer<Float>, count: Int, state: [UInt64]) {
        prepare(batch: count)
        let rows = steps * count, room = rows * sizes[0] + 16
        if eventIndices.count < room { eventIndices = [Int32](repeating: 0, count: room) }
        if changeOn.count < room {
            changeOn = [Int32](repeating: 0, count: room)
            changeOff = [Int32](repeating: 0, count: room)
        }
        for starts in [\SpikingNetwork.eventRowStart, \.changeOnStart, \.changeOffStart] where self[keyPath: starts].count != rows + 1 {
            self[keyPath: starts] = [Int32](repeating: 0, count: rows + 1)
        }
        eventIndices.withUnsafeMutableBufferPointer { idx in
            eventRowStart.withUnsafeMutableBufferPointer { rs in
                changeOn.withUnsafeMutableBufferPointer { on in
                    changeOnStart.withUnsafeMutableBufferPointer { ons in
                        changeOff.withUnsafeMutableBufferPointer { off in
                            changeOffStart.withUnsafeMutableBufferPointer { offs in
                                _ = nm_rate_encode(pixels, count, sizes[0], steps, state, idx.baseAddress!, rs.baseAddress!,
                                                   on.baseAddress!, ons.baseAddress!, off.baseAddress!, offs.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
        hasChanges = true
    }

    // MARK: - Forward

    /// Simulates the network over all steps. Returns the B × classes scores used for the loss
    /// and prediction (spike counts, or the readout membrane's mean/max over time).
    @discardableResult
    public func forward(batch b: Int) -> [Float] {
        ensure(b)
        let rows = steps * b
        precondition(eventRowStart.count == rows + 1, "input events do not match the batch")
        let events = Int(eventRowStart[rows])
        spikeCounts = [Double](repeating: 0, count: sizes.count)
        spikeCounts[0] = Double(events)
        switch inputPath {
        case .byDensity, .changes: useEvents = Double(events) < SpikeKernels.eventDensityLimit * Double(rows * sizes[0])
        case .events: useEvents = true
        case .dense: useEvents = false
        }
        // Changes instead of events where they are fewer (every 32nd step still reads its events).
        let fewer = hasChanges && Int(changeOnStart[rows] + changeOffStart[rows]) + events / 32 < events
        let useChanges = hasChanges && useEvents && (inputPath == .changes || (inputPath == .byDensity && fewer))
        usedChanges = useChanges
        for l in 0..<(sizes.count - 1) {
            let nIn = sizes[l], n = sizes[l + 1]
            let I = current[l].pointer
            let bias = biases[l].pointer
            let isOutput = l == sizes.count - 2
            let gain: Float = isOutput ? 1 : inputGain
            if l == 0 && !useEvents { writeDenseInput(rows: rows) }
            if l == 0 && useEvents {
                // Event-driven: add the weight rows of the inputs that spiked (or that changed).
                eventIndices.withUnsafeBufferPointer { idx in
                    eventRowStart.withUnsafeBufferPointer { start in
                        if useChanges {
                            changeOn.withUnsafeBufferPointer { on in
                                changeOnStart.withUnsafeBufferPointer { ons in
                                    changeOff.withUnsafeBufferPointer { off in
                                        changeOffStart.withUnsafeBufferPointer { offs in
                                            nm_events_forward_changes(idx.baseAddress!, start.baseAddress!, on.baseAddress!, ons.baseAddress!,
                                                                      off.baseAddress!, offs.baseAddress!, steps, b, weights[0].pointer, bias, n, gain, I)
                                        }
                                    }
                                }
                            }
                        } else {
                            nm_events_forward(idx.baseAddress!, start.baseAddress!, rows, weights[0].pointer, bias, n, gain, I)
                        }
                    }
                }
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(n), Int32(nIn),
                            1, spikes[l].pointer, Int32(nIn), weights[l].pointer, Int32(n), 0, I, Int32(n))
                for r in 0..<rows {
                    let row = I + r * n
                    for c in 0..<n { row[c] = (row[c] + bias[c]) * gain }
                }
            }
            if isOutput && spec.readout != .spikes {
                integrateReadout(l)
            } else {
                integrateLIF(l, isOutput: isOutput)
            }
        }
        return scores()
    }

    private func integrateLIF(_ l: Int, isOutput: Bool) {
        let n = sizes[l + 1], b = batch
        let I = current[l].pointer, U = membrane[l].pointer, S = spikes[l + 1].pointer
        let betaP: UnsafePointer<Float>? = isOutput ? nil : UnsafePointer(beta[l].pointer)
        let thetaP: UnsafePointer<Float>? = isOutput ? nil : UnsafePointer(theta[l].pointer)
        let outBeta = Float(spec.decay(spec.tauMem))
        let shift = isOutput ? 0 : thresholdShift
        let alpha = Float(spec.tauSyn > 0 ? spec.decay(spec.tauSyn) : 0)
        let useSyn = spec.tauSyn > 0
        let alif = spec.neuron == .alif && !isOutput
        let rho = Float(spec.decay(spec.tauAdapt)), betaA = Float(spec.adaptation)
        let zeroReset = spec.reset == "zero"
        let V = (!isOutput && spec.recurrent) ? recurrent[l].pointer : nil
        if !useSyn && !alif && V == nil {
            // Plain LIF: the fused kernel.
            spikeCounts[l + 1] = nm_lif_forward(I, U, S, steps, b, n, isOutput ? outputBeta.pointer : beta[l].pointer,
                                                isOutput ? outputTheta.pointer : theta[l].pointer, shift, zeroReset ? 1 : 0)
            return
        }
        for t in 0..<steps {
            let row = t * b * n
            if let V, t > 0 {
                // I[t] += s[t−1]·V
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(b), Int32(n), Int32(n),
                            inputGain, S + (t - 1) * b * n, Int32(n), V, Int32(n), 1, I + row, Int32(n))
            }
            if useSyn {
                let syn = synaptic[l].pointer
                for i in 0..<(b * n) { syn[row + i] = (t > 0 ? alpha * syn[row - b * n + i] : 0) + I[row + i] }
            }
            let drive = useSyn ? synaptic[l].pointer : I
            for bi in 0..<b {
                let o = row + bi * n
                for c in 0..<n {
                    let be = betaP?[c] ?? outBeta
                    let th = (thetaP?[c] ?? 1) + shift
                    var u = drive[o + c]
                    var thEff = th
                    if t > 0 {
                        let prevU = U[o - b * n + c], prevS = S[o - b * n + c]
                        u += zeroReset ? be * prevU * (1 - prevS) : be * prevU - th * prevS
                        if alif {
                            let a = rho * adaptationState[l].pointer[o - b * n + c] + prevS
                            adaptationState[l].pointer[o + c] = a
                            thEff += betaA * a
                        }
                    } else if alif {
                        adaptationState[l].pointer[o + c] = 0
                    }
                    U[o + c] = u
                    S[o + c] = u > thEff ? 1 : 0
                }
            }
        }
        var count: Float = 0
        for i in 0..<(steps * b * n) { count += S[i] }
        spikeCounts[l + 1] = Double(count)
    }

    private func integrateReadout(_ l: Int) {
        let n = sizes[l + 1], b = batch
        let I = current[l].pointer, U = membrane[l].pointer
        let be = Float(spec.decay(spec.tauMem))
        for t in 0..<steps {
            let row = t * b * n
            for i in 0..<(b * n) { U[row + i] = I[row + i] + (t > 0 ? be * U[row - b * n + i] : 0) }
        }
    }

    /// B × classes: spike counts (spiking readout) or the membrane's mean/max over time.
    private func scores() -> [Float] {
        let l = sizes.count - 2, n = sizes[l + 1], b = batch
        var out = [Float](repeating: spec.readout == .max ? -Float.greatestFiniteMagnitude : 0, count: b * n)
        let src = spec.readout == .spikes ? spikes[l + 1].pointer : membrane[l].pointer
        for t in 0..<steps {
            for i in 0..<(b * n) {
                let v = src[t * b * n + i]
                if spec.readout == .max { out[i] = max(out[i], v) } else { out[i] += v }
            }
        }
        if spec.readout == .mean { for i in out.indices { out[i] /= Float(steps) } }
        return out
    }

    /// Class probabilities of the last forward pass, B × classes: for a spiking readout the mean
    /// over steps of each step's softmax of the output spikes (what the training loss scores),
    /// otherwise the softmax of the readout's mean or max membrane.
    public func probabilities(scores: [Float]) -> [Float] {
        let l = sizes.count - 2, n = sizes[l + 1], b = batch
        var out = [Float](repeating: 0, count: b * n)
        func softmax(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, weight: Float) {
            var m = src[0]
            for c in 1..<n { m = max(m, src[c]) }
            var e = [Float](repeating: 0, count: n), sum: Float = 0
            for c in 0..<n { e[c] = expf(src[c] - m); sum += e[c] }
            for c in 0..<n { dst[c] += e[c] / sum * weight }
        }
        out.withUnsafeMutableBufferPointer { o in
            if spec.readout == .spikes {
                let S = spikes[l + 1].pointer
                for t in 0..<steps {
                    for bi in 0..<b { softmax(S + (t * b + bi) * n, into: o.baseAddress! + bi * n, weight: 1 / Float(steps)) }
                }
            } else {
                scores.withUnsafeBufferPointer { s in
                    for bi in 0..<b { softmax(s.baseAddress! + bi * n, into: o.baseAddress! + bi * n, weight: 1) }
                }
            }
        }
        return out
    }

    // MARK: - Loss and backward

    /// Cross-entropy of the batch (summed over samples), correct predictions and the mean
    /// normalised entropy of the output distribution; fills the output gradient for ``backward``.
    public func loss(scores: [Float], labels: UnsafePointer<Int32>) -> (loss: Double, correct: Int, entropy: Double) {
        let l = sizes.count - 2, n = sizes[l + 1], b = batch
        let dS = gradSpikes[l].pointer
        var loss = 0.0, correct = 0, entropy = 0.0
        for bi in 0..<b {
            var best = 0
            for c in 1..<n where scores[bi * n + c] > scores[bi * n + best] { best = c }
            if best == Int(labels[bi]) { correct += 1 }
        }
        if spec.readout == .spikes {
            // Mean over steps of the softmax cross-entropy of each step's output spikes.
            let S = spikes[l + 1].pointer
            let scale = 1 / Float(steps * b)
            var p = [Float](repeating: 0, count: n)
            for t in 0..<steps {
                for bi in 0..<b {
                    let o = (t * b + bi) * n
                    var m = S[o]
                    for c in 1..<n { m = max(m, S[o + c]) }
                    var sum: Float = 0
                    for c in 0..<n { p[c] = expf(S[o + c] - m); sum += p[c] }
                    let y = Int(labels[bi])
                    loss -= Double(logf(p[y] / sum + 1e-12)) / Double(steps)
                    for c in 0..<n { dS[o + c] = p[c] / sum * scale }
                    dS[o + y] -= scale
                }
            }
        } else {
            // Softmax cross-entropy of the readout's logits; spread back over time in backward.
            for bi in 0..<b {
                let row = Array(scores[(bi * n)..<((bi + 1) * n)])
                let m = row.max()!
                let e = row.map { expf($0 - m) }
                let sum = e.reduce(0, +)
                let y = Int(labels[bi])
                loss -= Double(logf(e[y] / sum + 1e-12))
                for c in 0..<n { dS[bi * n + c] = e[c] / sum / Float(b) }   // dL/dlogits, rows 0..<B
                dS[bi * n + y] -= 1 / Float(b)
            }
        }
        for bi in 0..<b {
            let row = Array(scores[(bi * n)..<((bi + 1) * n)])
            let m = row.max()!
            let e = row.map { expf($0 - m) }
            let sum = e.reduce(0, +)
            var h: Float = 0
            for v in e where v > 0 { let q = v / sum; h -= q * logf(q) }
            entropy += Double(h) / log(Double(n))
        }
        return (loss, correct, entropy)
    }

    /// The gradient estimate of the configured rule (BPTT or e-prop) from what
    /// ``loss(scores:labels:)`` left; fills ``gradients``.
    public func backward() {
        if spec.learning == "eprop" {
            epropBackward(feedback: feedbackWeights)
            return
        }
        for g in gradients { g.fill(0) }
        let b = batch, rows = steps * b
        for l in stride(from: sizes.count - 2, through: 0, by: -1) {
            let n = sizes[l + 1], nIn = sizes[l]
            let isOutput = l == sizes.count - 2
            if isOutput && spec.readout != .spikes {
                readoutBackward(l)
            } else {
                lifBackward(l, isOutput: isOutput)
            }
            let dI = gradCurrent[l].pointer
            let gain: Float = isOutput ? 1 : inputGain
            if gain != 1 { for i in 0..<(rows * n) { dI[i] *= gain } }
            let (gW, gB) = (gradients[2 * l], gradients[2 * l + 1])
            if l == 0 && usedChanges {
                inputLayerGradientFromChanges(delta: dI, into: gW.pointer)
            } else if l == 0 && useEvents {
                inputEventsByColumn(rows: rows)
                eventColumnRows.withUnsafeBufferPointer { cr in
                    eventColumnStart.withUnsafeBufferPointer { cs in
                        nm_events_weight_gradient(cr.baseAddress!, cs.baseAddress!, nIn, dI, rows, n, gW.pointer)
                    }
                }
            } else {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(nIn), Int32(n), Int32(rows),
                            1, spikes[l].pointer, Int32(nIn), dI, Int32(n), 0, gW.pointer, Int32(n))
            }
            nm_add_column_sums(dI, rows, n, gB.pointer)
            if !isOutput && spec.recurrent && steps > 1 {
                // dV = Σ_t s[t−1]ᵀ · dI[t] (dI already carries the gain): the time-major layout makes
                // both operands contiguous.
                let gV = gradients[2 * weights.count + l]
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(n), Int32((steps - 1) * b),
                            1, spikes[l + 1].pointer, Int32(n), dI + b * n, Int32(n), 0, gV.pointer, Int32(n))
            }
            if l > 0 {
                // dL/dS of the layer below.
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(nIn), Int32(n),
                            1, dI, Int32(n), weights[l].pointer, Int32(n), 0, gradSpikes[l - 1].pointer, Int32(nIn))
            }
        }
    }

    /// The input layer's weight gradient by summation by parts along rate coding's changes (see
    /// `nm_changes_weight_gradient`): rows are read where an input starts or stops spiking.
    private func inputLayerGradientFromChanges(delta: UnsafePointer<Float>, into gW: UnsafeMutablePointer<Float>) {
        let nIn = sizes[0], n = sizes[1], rows = steps * batch
        if prefix.count < rows * n { prefix = FloatBuffer(count: rows * n) }
        nm_block_prefix_sums(delta, steps, batch, n, prefix.pointer)
        let plusRoom = Int(eventRowStart[rows] + changeOffStart[rows]), minusRoom = Int(changeOnStart[rows])
        if plusRows.count < plusRoom { plusRows = [Int32](repeating: 0, count: plusRoom) }
        if minusRows.count < max(minusRoom, 1) { minusRows = [Int32](repeating: 0, count: max(minusRoom, 1)) }
        if plusStart.count != nIn + 1 {
            plusStart = [Int32](repeating: 0, count: nIn + 1)
            minusStart = [Int32](repeating: 0, count: nIn + 1)
        }
        eventIndices.withUnsafeBufferPointer { idx in eventRowStart.withUnsafeBufferPointer { rs in
        changeOn.withUnsafeBufferPointer { on in changeOnStart.withUnsafeBufferPointer { ons in
        changeOff.withUnsafeBufferPointer { off in changeOffStart.withUnsafeBufferPointer { offs in
        plusRows.withUnsafeMutableBufferPointer { pr in plusStart.withUnsafeMutableBufferPointer { ps in
        minusRows.withUnsafeMutableBufferPointer { mr in minusStart.withUnsafeMutableBufferPointer { ms in
            nm_changes_transpose(idx.baseAddress!, rs.baseAddress!, on.baseAddress!, ons.baseAddress!, off.baseAddress!, offs.baseAddress!,
                                 steps, batch, nIn, pr.baseAddress!, ps.baseAddress!, mr.baseAddress!, ms.baseAddress!)
            nm_changes_weight_gradient(pr.baseAddress!, ps.baseAddress!, mr.baseAddress!, ms.baseAddress!, nIn, prefix.pointer, rows, n, gW)
        } } } } } } } } } }
    }

    /// Fills ``eventColumnRows``/``eventColumnStart`` from the input events (by row).
    private func inputEventsByColumn(rows: Int) {
        let nIn = sizes[0]
        let events = Int(eventRowStart[rows])
        if eventColumnRows.count < events { eventColumnRows = [Int32](repeating: 0, count: events) }
        if eventColumnStart.count != nIn + 1 { eventColumnStart = [Int32](repeating: 0, count: nIn + 1) }
        eventIndices.withUnsafeBufferPointer { idx in
            eventRowStart.withUnsafeBufferPointer { start in
                eventColumnRows.withUnsafeMutableBufferPointer { cr in
                    eventColumnStart.withUnsafeMutableBufferPointer { cs in
                        nm_events_transpose(idx.baseAddress!, start.baseAddress!, rows, nIn, cr.baseAddress!, cs.baseAddress!)
                    }
                }
            }
        }
    }

    func readoutBackward(_ l: Int) {
        let n = sizes[l + 1], b = batch
        let dLogits = gradSpikes[l].pointer   // rows 0..<B hold dL/dlogits
        let dI = gradCurrent[l].pointer, U = membrane[l].pointer
        let be = Float(spec.decay(spec.tauMem))
        var argmaxT = [Int](repeating: 0, count: b * n)
        if spec.readout == .max {
            for i in 0..<(b * n) {
                var best = 0
                for t in 1..<steps where U[t * b * n + i] > U[best * b * n + i] { best = t }
                argmaxT[i] = best
            }
        }
        var carry = [Float](repeating: 0, count: b * n)
        for t in stride(from: steps - 1, through: 0, by: -1) {
            for i in 0..<(b * n) {
                let direct: Float = spec.readout == .mean ? dLogits[i] / Float(steps) : (argmaxT[i] == t ? dLogits[i] : 0)
                carry[i] = direct + be * carry[i]
                dI[t * b * n + i] = carry[i]
            }
        }
    }

    private func lifBackward(_ l: Int, isOutput: Bool) {
        let n = sizes[l + 1], b = batch
        let dS = gradSpikes[l].pointer, dI = gradCurrent[l].pointer
        let U = membrane[l].pointer, S = spikes[l + 1].pointer
        let slope = Float(spec.surrogateSlope)
        let outBeta = Float(spec.decay(spec.tauMem))
        let shift = isOutput ? 0 : thresholdShift
        let alpha = Float(spec.tauSyn > 0 ? spec.decay(spec.tauSyn) : 0)
        let zeroReset = spec.reset == "zero"
        let alif = spec.neuron == .alif && !isOutput
        let betaA = Float(spec.adaptation)
        let V = (!isOutput && spec.recurrent) ? recurrent[l].pointer : nil
        let trainNeuron = spec.trainNeuronParameters && !isOutput
        let gBeta = trainNeuron ? gradients[gradients.count - 2 * hiddenCount + l].pointer : nil
        let gTheta = trainNeuron ? gradients[gradients.count - hiddenCount + l].pointer : nil
        if !alif && spec.tauSyn == 0 && V == nil && !trainNeuron {
            // Plain LIF: the fused kernel.
            nm_lif_backward(dS, U, S, dI, steps, b, n, isOutput ? outputBeta.pointer : beta[l].pointer,
                            isOutput ? outputTheta.pointer : theta[l].pointer, shift, slope, zeroReset ? 1 : 0, carry.pointer)
            return
        }
        var du = [Float](repeating: 0, count: b * n)      // dL/du[t+1], carried backwards
        var dsyn = [Float](repeating: 0, count: b * n)
        for t in stride(from: steps - 1, through: 0, by: -1) {
            let row = t * b * n
            if let V, t < steps - 1 {
                // s[t] fed I[t+1] through V: dS[t] += dI[t+1]·Vᵀ
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(b), Int32(n), Int32(n),
                            inputGain, dI + row + b * n, Int32(n), V, Int32(n), 1, dS + row, Int32(n))
            }
            for bi in 0..<b {
                let o = row + bi * n
                for c in 0..<n {
                    let k = bi * n + c
                    let be = isOutput ? outBeta : beta[l].pointer[c]
                    let th = (isOutput ? 1 : theta[l].pointer[c]) + shift
                    var thEff = th
                    if alif { thEff += betaA * adaptationState[l].pointer[o + c] }
                    let x = U[o + c] - thEff
                    let denom = 1 + slope * abs(x)
                    let g = dS[o + c] / (denom * denom)
                    // u[t+1] depends on u[t] through β (times 1 − s[t] for the zero reset).
                    let carry = zeroReset ? be * (1 - S[o + c]) : be
                    let total = g + carry * du[k]
                    if let gBeta, t > 0 {
                        let prevU = U[o - b * n + c]
                        gBeta[c] += total * (zeroReset ? prevU * (1 - S[o - b * n + c]) : prevU)
                    }
                    if let gTheta {
                        gTheta[c] -= g
                        if !zeroReset && t > 0 { gTheta[c] -= total * S[o - b * n + c] }
                    }
                    du[k] = total
                    if spec.tauSyn > 0 {
                        dsyn[k] = total + alpha * dsyn[k]
                        dI[o + c] = dsyn[k]
                    } else {
                        dI[o + c] = total
                    }
                }
            }
        }
    }

    /// Keeps β within the bounds on τ (default [0, 0.9999]) and θ ≥ 0.05 after an update.
    public func clampNeuronParameters() {
        guard spec.trainNeuronParameters else { return }
        let bounds = spec.betaBounds
        for b in beta { for i in 0..<b.count { b.pointer[i] = min(bounds.upperBound, max(bounds.lowerBound, b.pointer[i])) } }
        for t in theta { for i in 0..<t.count { t.pointer[i] = max(0.05, t.pointer[i]) } }
    }

    // MARK: - Statistics

    /// Spiking layers: the hidden layers, and the output when it spikes.
    public var spikingLayerCount: Int { spec.readout == .spikes ? sizes.count - 1 : sizes.count - 2 }

    /// Spikes per sample of each spiking layer (hidden layers, and the output when it spikes).
    public func spikesPerSample() -> [Double] {
        (1...spikingLayerCount).map { spikeCounts[$0] / Double(batch) }
    }

    /// Synaptic operations per sample: every presynaptic spike times its fan-out (input, hidden
    /// and recurrent synapses) — the usual energy proxy.
    public func synapticOperationsPerSample() -> Double {
        var ops = 0.0
        for l in 0..<(sizes.count - 1) {
            let s = spikeCounts[l]
            ops += s * Double(sizes[l + 1])
            if l > 0 && l <= hiddenCount && spec.recurrent { ops += s * Double(sizes[l]) }
        }
        return ops / Double(batch)
    }

    /// Membrane time constants τ = −dt / ln β of a hidden layer.
    public func timeConstants(layer l: Int) -> [Double] {
        beta[l].array.map { $0 > 0 && $0 < 1 ? -spec.dt / log(Double($0)) : ($0 >= 1 ? Double.infinity : 0) }
    }

    // MARK: - Init helpers

    /// Gamma(shape k, mean m) by Marsaglia–Tsang.
    static func gamma(shape k: Double, mean m: Double, rng: inout RandomSource) -> Double {
        if k < 1 {
            let u = max(rng.uniform(), 1e-12)
            return gamma(shape: k + 1, mean: m * k / (k + 1), rng: &rng) * pow(u, 1 / k) * (k + 1) / k * k / (k + 1)
        }
        let d = k - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat {
                x = rng.normal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = rng.uniform()
            if u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)) {
                return d * v * m / k
            }
        }
    }
}
