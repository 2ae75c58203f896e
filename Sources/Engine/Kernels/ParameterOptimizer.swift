import Foundation

/// SGD or Adam over a flat list of parameter tensors and their gradients.
public final class ParameterOptimizer {
    public let spec: ExperimentSpec.OptimizerSpec
    public internal(set) var t = 0
    public let first: [FloatBuffer]
    public let second: [FloatBuffer]

    public init(spec: ExperimentSpec.OptimizerSpec, shapes: [Int]) {
        self.spec = spec
        first = spec.kind == .adam ? shapes.map { FloatBuffer(count: $0) } : []
        second = spec.kind == .adam ? shapes.map { FloatBuffer(count: $0) } : []
    }

    public func step(parameters: [FloatBuffer], gradients: [FloatBuffer], lrScale: Float = 1) {
        let lr = Float(spec.learningRate) * lrScale
        switch spec.kind {
        case .sgd:
            for (p, g) in zip(parameters, gradients) {
                for i in 0..<p.count { p.pointer[i] -= lr * g.pointer[i] }
            }
        case .adam:
            t += 1
            let b1 = Float(spec.beta1), b2 = Float(spec.beta2), eps = Float(spec.epsilon)
            let a = lr * Float((1 - pow(spec.beta2, Double(t))).squareRoot() / (1 - pow(spec.beta1, Double(t))))
            for (k, (p, g)) in zip(parameters, gradients).enumerated() {
                let m = first[k].pointer, v = second[k].pointer, pp = p.pointer, gp = g.pointer
                for i in 0..<p.count {
                    let gi = gp[i]
                    let mi = b1 * m[i] + (1 - b1) * gi
                    let vi = b2 * v[i] + (1 - b2) * gi * gi
                    m[i] = mi
                    v[i] = vi
                    pp[i] -= a * mi / (vi.squareRoot() + eps)
                }
            }
        }
    }
}
