import Foundation

/// Noradrenergic gain modulation driven by predictive uncertainty (NGM; Rodriguez-Garcia, Ghosh &
/// Ramaswamy 2025, arXiv:2507.14056), aimed at the stability gap: one gain g on every layer's
/// pre-activation, a leaky integrator of the mean softmax entropy H (nats) of the previous
/// training batch,
///
///     g ← γ·g + (1 − γ)·g₀ + η·H,   g₀ = 1,
///
/// so g rises after a task switch (the new inputs are uncertain) and relaxes as they are learned;
/// its resting level is g₀ + η·H̄/(1 − γ). The gain multiplies the forward pass — and through it
/// every weight gradient — so while uncertainty is high the effective step on the weights grows.
///
/// Where this departs from the authors' code (github.com/alejandrorg00/ngm-sgd_project): their
/// biases are frozen at zero, so the gain there scales W·x only and never changes a prediction;
/// ours scales W·x + b of hidden layers (`Modulation.gain`) and divides the output's logits by g
/// in training (an inverse temperature), with trainable biases. The output scaling does not
/// change an argmax; the hidden one can, slightly, through the biases of later layers.
public struct UncertaintyGain: Sendable, Equatable, Codable {
    public var eta: Double
    public var decay: Double
    /// The current gain and the entropy it will integrate next.
    public private(set) var gain = 1.0
    public private(set) var lastEntropy = 0.0

    public init(eta: Double, decay: Double) {
        self.eta = eta
        self.decay = decay
    }

    /// Integrates the entropy of the batch just trained: the gain of the next step.
    public mutating func observe(entropy: Double) {
        gain = decay * gain + (1 - decay) * 1 + eta * lastEntropy
        lastEntropy = entropy
    }
}
