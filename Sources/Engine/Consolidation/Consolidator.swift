import Foundation

/// Weight consolidation as a quadratic anchor: penalty (λ/2)·Σᵢ Pᵢ(θᵢ − Tᵢ)², gradient λ·P·(θ − T).
///
/// - EWC: after task k, P = Σₖ Fₖ and T = (Σₖ Fₖθ*ₖ)/P — exactly Σₖ Fₖ(θ − θ*ₖ) with two buffers.
/// - Online EWC: P ← γP + Fₖ, T = θ*ₖ.
/// - SI: during a task ωᵢ −= gᵢ·Δθᵢ (path integral of the task gradient); at its end
///   Ωᵢ += ωᵢ / ((θᵢ − θᵢ(start))² + ξ), and P = 2Ω (so the gradient is 2cΩ(θ − θ*)), T = θ*.
public final class Consolidator {
    public struct Anchor {
        public let precision: FloatBuffer
        public let target: FloatBuffer
    }

    public let spec: ConsolidationSpec
    /// Multiplies λ (modulated by neuromodulators targeting consolidation).
    public var strengthFactor: Float = 1
    public private(set) var tasksConsolidated = 0
    let sizes: [Int]
    // Per layer: weights, then biases.
    private(set) var anchorsW: [Anchor] = []
    private(set) var anchorsB: [Anchor] = []
    private var weightedSumW: [FloatBuffer] = []   // EWC: Σ F θ*
    private var weightedSumB: [FloatBuffer] = []
    private var omegaW: [FloatBuffer] = []          // SI
    private var omegaB: [FloatBuffer] = []
    private var startW: [FloatBuffer] = []
    private var startB: [FloatBuffer] = []
    private var importanceW: [FloatBuffer] = []     // SI: Ω
    private var importanceB: [FloatBuffer] = []

    public init(spec: ConsolidationSpec, sizes: [Int]) {
        self.spec = spec
        self.sizes = sizes
        guard spec.kind != .none else { return }
        for l in 0..<(sizes.count - 1) {
            let nw = sizes[l] * sizes[l + 1], nb = sizes[l + 1]
            anchorsW.append(Anchor(precision: FloatBuffer(count: nw), target: FloatBuffer(count: nw)))
            anchorsB.append(Anchor(precision: FloatBuffer(count: nb), target: FloatBuffer(count: nb)))
            switch spec.kind {
            case .ewc:
                weightedSumW.append(FloatBuffer(count: nw)); weightedSumB.append(FloatBuffer(count: nb))
            case .si:
                omegaW.append(FloatBuffer(count: nw)); omegaB.append(FloatBuffer(count: nb))
                startW.append(FloatBuffer(count: nw)); startB.append(FloatBuffer(count: nb))
                importanceW.append(FloatBuffer(count: nw)); importanceB.append(FloatBuffer(count: nb))
            case .none, .onlineEWC: break
            }
        }
    }

    /// The penalty applies once a task has been consolidated.
    public var isActive: Bool { spec.kind != .none && tasksConsolidated > 0 && spec.strength > 0 }
    public var needsGradients: Bool { spec.kind == .si }
    public var needsFisher: Bool { spec.kind == .ewc || spec.kind == .onlineEWC }
    var effectiveStrength: Float { Float(spec.strength) * strengthFactor }

    func anchor(layer: Int, weight: Bool) -> Anchor { weight ? anchorsW[layer] : anchorsB[layer] }
    func omega(layer: Int, weight: Bool) -> FloatBuffer { weight ? omegaW[layer] : omegaB[layer] }

    /// The penalty's SGD step, taken implicitly (proximal): θ ← θ − c/(1+c)·(θ − T) with
    /// c = lr·λ·P. For small c this is the gradient step lr·λ·P·(θ − T); unlike it, it never
    /// overshoots the anchor, so large λ cannot make SGD diverge.
    func applySGDPenalty(layer: Int, weights: FloatBuffer, bias: FloatBuffer, learningRate lr: Float) {
        let k = lr * effectiveStrength
        for (param, a) in [(weights, anchorsW[layer]), (bias, anchorsB[layer])] {
            let p = param.pointer, pr = a.precision.pointer, t = a.target.pointer
            for i in 0..<param.count {
                let c = k * pr[i]
                p[i] -= c / (1 + c) * (p[i] - t[i])
            }
        }
    }

    /// (λ/2)·Σ P(θ − T)² at the current parameters.
    public func penalty(_ model: MLP) -> Double {
        guard isActive else { return 0 }
        var sum = 0.0
        for l in 0..<model.layerCount {
            for (param, a) in [(model.weights[l], anchorsW[l]), (model.biases[l], anchorsB[l])] {
                let p = param.pointer, pr = a.precision.pointer, t = a.target.pointer
                for i in 0..<param.count { let d = Double(p[i] - t[i]); sum += Double(pr[i]) * d * d }
            }
        }
        return 0.5 * Double(effectiveStrength) * sum
    }

    /// Called when a task starts (SI remembers where the parameters started).
    public func beginTask(_ model: MLP) {
        guard spec.kind == .si else { return }
        for l in 0..<model.layerCount {
            startW[l].copy(from: model.weights[l]); startB[l].copy(from: model.biases[l])
            omegaW[l].fill(0); omegaB[l].fill(0)
        }
    }

    /// Consolidates a finished task. `fisher` is the mean squared gradient per parameter
    /// (weights, biases per layer) for the EWC variants, nil for SI.
    public func endTask(_ model: MLP, fisher: (w: [FloatBuffer], b: [FloatBuffer])?) {
        switch spec.kind {
        case .none: return
        case .ewc:
            guard let fisher else { return }
            for l in 0..<model.layerCount {
                update(anchorsW[l], sum: weightedSumW[l], fisher: fisher.w[l], theta: model.weights[l])
                update(anchorsB[l], sum: weightedSumB[l], fisher: fisher.b[l], theta: model.biases[l])
            }
        case .onlineEWC:
            guard let fisher else { return }
            let gamma = Float(spec.gamma)
            for l in 0..<model.layerCount {
                for (a, f, theta) in [(anchorsW[l], fisher.w[l], model.weights[l]), (anchorsB[l], fisher.b[l], model.biases[l])] {
                    for i in 0..<theta.count {
                        a.precision.pointer[i] = gamma * a.precision.pointer[i] + f.pointer[i]
                        a.target.pointer[i] = theta.pointer[i]
                    }
                }
            }
        case .si:
            let xi = Float(spec.damping)
            for l in 0..<model.layerCount {
                let sets = [(anchorsW[l], omegaW[l], startW[l], importanceW[l], model.weights[l]),
                            (anchorsB[l], omegaB[l], startB[l], importanceB[l], model.biases[l])]
                for (a, w, s, big, theta) in sets {
                    for i in 0..<theta.count {
                        let d = theta.pointer[i] - s.pointer[i]
                        big.pointer[i] += max(0, w.pointer[i]) / (d * d + xi)
                        a.precision.pointer[i] = 2 * big.pointer[i]
                        a.target.pointer[i] = theta.pointer[i]
                    }
                }
            }
        }
        tasksConsolidated += 1
    }

    private func update(_ a: Anchor, sum: FloatBuffer, fisher: FloatBuffer, theta: FloatBuffer) {
        for i in 0..<theta.count {
            let f = fisher.pointer[i]
            a.precision.pointer[i] += f
            sum.pointer[i] += f * theta.pointer[i]
            let p = a.precision.pointer[i]
            a.target.pointer[i] = p > 0 ? sum.pointer[i] / p : theta.pointer[i]
        }
    }

    // MARK: - Checkpoint state

    /// Every buffer this consolidator owns, by a stable name.
    public var stateTensors: [(String, FloatBuffer)] {
        var out: [(String, FloatBuffer)] = []
        for l in 0..<anchorsW.count {
            out.append(("consolidation.layers.\(l).weight.precision", anchorsW[l].precision))
            out.append(("consolidation.layers.\(l).weight.target", anchorsW[l].target))
            out.append(("consolidation.layers.\(l).bias.precision", anchorsB[l].precision))
            out.append(("consolidation.layers.\(l).bias.target", anchorsB[l].target))
            if spec.kind == .ewc {
                out.append(("consolidation.layers.\(l).weight.weighted_sum", weightedSumW[l]))
                out.append(("consolidation.layers.\(l).bias.weighted_sum", weightedSumB[l]))
            }
            if spec.kind == .si {
                for (n, w, b) in [("omega", omegaW, omegaB), ("start", startW, startB), ("importance", importanceW, importanceB)] {
                    out.append(("consolidation.layers.\(l).weight.\(n)", w[l]))
                    out.append(("consolidation.layers.\(l).bias.\(n)", b[l]))
                }
            }
        }
        return out
    }

    /// Writes every buffer and the count of consolidated tasks.
    public func save(to w: inout CheckpointWriter) {
        for (name, buffer) in stateTensors { w.tensor(name, buffer) }
        w.state("consolidation.tasks_consolidated", tasksConsolidated)
    }

    public func load(from r: CheckpointReader) throws {
        for (name, buffer) in stateTensors { try r.tensor(name, into: buffer) }
        tasksConsolidated = try r.state("consolidation.tasks_consolidated")
    }
}
