import Foundation
import Support

/// How a served model keeps learning from its clients' feedback (issue 17). Dopamine — the
/// outcome minus the model's confidence in it — drives a third-factor update of the readout;
/// noradrenaline — surprise rising above its slow average — detects a shift and raises
/// plasticity; serotonin (consolidation) pulls the readout back toward the registered weights, and
/// a hard bound caps how far it may drift. Snapshots become model versions; a canary set's
/// accuracy floor freezes adaptation.
public struct AdaptationPolicy: Sendable, Equatable, Codable {
    /// Noradrenaline: a fast and a slow running mean of surprise; the excess of the fast one,
    /// `NA = max(0, fast − slow) / (slow + 0.5)` (the 0.5 nats keep a confident model's rare hard
    /// input from reading as a shift), multiplies plasticity by `1 + gain · NA`.
    public struct Noradrenaline: Sendable, Equatable, Codable {
        public var gain = 4.0
        /// Rate of the fast running mean of surprise (per feedback).
        public var fastRate = 0.1
        /// Rate of the slow running mean (per feedback).
        public var slowRate = 0.005
        /// NA at which a shift is recorded (re-armed once NA falls below half of it).
        public var threshold = 1.0
        enum CodingKeys: String, CodingKey { case gain, fastRate = "fast_rate", slowRate = "slow_rate", threshold }
        public init() {}
    }

    /// Step size of the dopamine-gated update.
    public var learningRate = 0.02
    /// nil: noradrenaline off (plasticity stays 1).
    public var noradrenaline: Noradrenaline?
    /// Serotonin: the fraction of the distance to the registered readout taken back after each
    /// update (divided by the plasticity, so a detected shift weakens it). 0: off.
    public var consolidation = 0.0
    /// Largest distance of the adapted readout from the registered one, relative to the latter's
    /// norm (`‖θ − θ₀‖ ≤ max_drift · ‖θ₀‖`); updates beyond it are projected back.
    public var maxDrift = 1.0
    /// Adapted weights become a new model version (and the alias moves to it) every this many updates.
    public var snapshotEvery = 100
    /// With a canary set: adaptation freezes when the canary accuracy falls below this.
    public var canaryFloor: Double?

    enum CodingKeys: String, CodingKey {
        case learningRate = "learning_rate", noradrenaline, consolidation, maxDrift = "max_drift"
        case snapshotEvery = "snapshot_every", canaryFloor = "canary_floor"
    }

    public init() {}

    /// Largest `snapshot_every` (a version at least every this many updates).
    public static let maxSnapshotEvery = 100_000

    /// Reads a policy from a request's JSON, naming the field at fault; absent fields keep their
    /// defaults. The `canary` field (its inputs and labels) is the caller's to read.
    public init(json: JSONValue, allowing extra: Set<String> = []) throws {
        guard case .object(let o) = json else { throw SpecError("body", "must be an object") }
        let known: Set<String> = ["learning_rate", "noradrenaline", "consolidation", "max_drift", "snapshot_every", "canary_floor"]
        for key in o.keys.sorted() where !known.contains(key) && !extra.contains(key) { throw SpecError(key, "is not a known field") }
        func number(_ key: String, _ v: JSONValue, _ range: ClosedRange<Double>, open: Bool = false) throws -> Double {
            guard case .number(let d) = v, d.isFinite, range.contains(d), !(open && d == range.lowerBound) else {
                throw SpecError(key, "must be a number in \(open ? "(" : "[")\(range.lowerBound), \(range.upperBound)]")
            }
            return d
        }
        if let v = o["learning_rate"] { learningRate = try number("learning_rate", v, 0...10, open: true) }
        if let v = o["consolidation"] { consolidation = try number("consolidation", v, 0...1) }
        if let v = o["max_drift"] { maxDrift = try number("max_drift", v, 0...100, open: true) }
        if let v = o["snapshot_every"] {
            guard let n = v.intValue, (1...Self.maxSnapshotEvery).contains(n) else {
                throw SpecError("snapshot_every", "must be an integer from 1 to \(Self.maxSnapshotEvery)")
            }
            snapshotEvery = n
        }
        if let v = o["canary_floor"], v != .null { canaryFloor = try number("canary_floor", v, 0...1) }
        switch o["noradrenaline"] {
        case nil, .null?: noradrenaline = nil
        case .bool(let on)?: noradrenaline = on ? Noradrenaline() : nil
        case .object(let n)?:
            var na = Noradrenaline()
            for key in n.keys.sorted() where !["gain", "fast_rate", "slow_rate", "threshold"].contains(key) {
                throw SpecError("noradrenaline.\(key)", "is not a known field")
            }
            if let v = n["gain"] { na.gain = try number("noradrenaline.gain", v, 0...100) }
            if let v = n["fast_rate"] { na.fastRate = try number("noradrenaline.fast_rate", v, 0...1, open: true) }
            if let v = n["slow_rate"] { na.slowRate = try number("noradrenaline.slow_rate", v, 0...1, open: true) }
            if let v = n["threshold"] { na.threshold = try number("noradrenaline.threshold", v, 0...100, open: true) }
            guard na.slowRate < na.fastRate else { throw SpecError("noradrenaline.slow_rate", "must be below fast_rate") }
            noradrenaline = na
        default:
            throw SpecError("noradrenaline", "must be true, false, null or an object {gain, fast_rate, slow_rate, threshold}")
        }
    }

    /// The policy as the API shows it.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "learning_rate": .number(learningRate), "consolidation": .number(consolidation),
            "max_drift": .number(maxDrift), "snapshot_every": .number(Double(snapshotEvery)),
            "canary_floor": canaryFloor.map { .number($0) } ?? .null,
        ]
        o["noradrenaline"] = noradrenaline.map {
            .object(["gain": .number($0.gain), "fast_rate": .number($0.fastRate), "slow_rate": .number($0.slowRate), "threshold": .number($0.threshold)])
        } ?? .null
        return .object(o)
    }
}

/// What a client says of a prediction: the true class, or a scalar reward in [0, 1] for the
/// class the model answered (1: right or as good as it gets).
public enum AdaptationOutcome: Sendable, Equatable {
    case label(Int)
    case reward(Double)
}
