import Foundation
import XCTest
import Support
@testable import Engine

/// Intertemporal choice with serotonin setting the discount (issue 12, part 2: serotonin with time).
final class IntertemporalTests: XCTestCase {
    func spec(dose: Double? = nil, extra: String = "") throws -> ExperimentSpec {
        let nm = dose.map { #", "neuromodulation": {"serotonin": {"signal": "tonic", "targets": {"horizon": \#($0)}}}"# } ?? ""
        return try parseSpec(#"{"seed": 3, "protocol": {"kind": "intertemporal", "trials": 6000, "delays": [1, 2, 3, 4, 6, 8, 12, 16]\#(extra)}\#(nm), "checkpoint_every_steps": 1000000}"#)
    }

    func run(_ s: ExperimentSpec, stopAt: Int? = nil) throws -> TrainingLoop<IntertemporalFamily> {
        let loop = TrainingLoop(IntertemporalFamily(spec: s))
        let o = RecordingObserver()
        o.stopAt = stopAt
        _ = try loop.run(observer: o)
        return loop
    }

    /// TD(λ) learns the discounted values: Q(offer D, later) → γ^(D−1)·large, Q(offer D, sooner) →
    /// small (γ = 0.5 by default; the waiting states' values γ^(D−1−k)·large).
    func testTDLearnsTheDiscountedValues() throws {
        let loop = try run(try spec(extra: #", "forced_trials": 0.5"#))
        let state = loop.family.state
        for (d, delay) in [1, 2, 3, 4, 6, 8, 12, 16].enumerated() {
            XCTAssertEqual(state.sooner[d], 1, accuracy: 0.02, "Q(\(delay), sooner)")
            XCTAssertEqual(state.later[d], 4 * pow(0.5, Double(delay - 1)), accuracy: 0.05, "Q(\(delay), later)")
            if delay > 1 { XCTAssertEqual(state.waiting[d][delay - 2], 4, accuracy: 0.05, "the last waiting state before the reward") }
        }
    }

    /// A tonic serotonin dose k scales the horizon: γ = 1 − (1 − γ₀)·e^(−k); the agent then waits
    /// up to the delay the learned values predict, 1 + ln(large/small)/(−ln γ), and more serotonin
    /// means more waiting.
    func testSerotoninDoseSetsTheDiscountAndTheIndifferenceDelay() throws {
        var observed: [Double] = []
        for dose in [0.0, 1.0, 1.5] {
            let summary = try run(try spec(dose: dose)).summary()
            let s = try XCTUnwrap(summary.objectValue)
            let indifference = try XCTUnwrap(s["indifference_delay"]?.objectValue)
            let gamma = try XCTUnwrap(s["discount"]?.numberValue)
            XCTAssertEqual(gamma, 1 - 0.5 * exp(-dose), accuracy: 1e-3, "the mean over trials (the first runs before any modulation)")
            let predicted = try XCTUnwrap(indifference["predicted"]?.numberValue)
            XCTAssertEqual(predicted, 1 + log(4) / -log(gamma), accuracy: 1e-9)
            let seen = try XCTUnwrap(indifference["observed"]?.numberValue, "dose \(dose): \(s)")
            XCTAssertEqual(seen, predicted, accuracy: 1.0, "dose \(dose)")
            observed.append(seen)
        }
        XCTAssertEqual(observed, observed.sorted(), "more serotonin, more patience")
        XCTAssertLessThan(observed[0] + 5, observed[2])
    }

    /// The reward-rate optimum of the summary is the best threshold policy, checked by hand for one
    /// environment, and an intertrial interval moves it towards patience.
    func testRewardRateOptimum() throws {
        var p = try spec().protocol
        p.delays = [1, 4]; p.forcedTrials = 0; p.intertrialInterval = 0
        // Never wait: 1 per step. Wait at 1 only: (4 + 1)/(1 + 1) = 2.5. Wait at both: 8/5 = 1.6.
        XCTAssertEqual(IntertemporalFamily.rewardRateOptimum(p).rate, 2.5, accuracy: 1e-12)
        XCTAssertEqual(IntertemporalFamily.rewardRateOptimum(p).indifference, 1 + 3 / 2.5, accuracy: 1e-12)
        p.intertrialInterval = 10
        // Never: 1/11; at 1 only: 5/22; both: 8/25 — the rarer the offers, the more waiting pays.
        XCTAssertEqual(IntertemporalFamily.rewardRateOptimum(p).rate, 8.0 / 25, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(IntertemporalFamily.crossing(delays: [1, 2, 4], shares: [1, 0.75, 0.25])), 3, accuracy: 1e-12)
        XCTAssertNil(IntertemporalFamily.crossing(delays: [1, 2], shares: [1, 0.9]))
    }

    /// The `reward_rate` signal is −ln of the slow average reward per time step, so a horizon
    /// coupling k makes the horizon ∝ (reward per step)^(−k): scarcer reward, more patience.
    func testRewardRateSignal() throws {
        let s = try parseSpec(#"{"protocol": {"kind": "intertemporal"}, "neuromodulation": {"serotonin": {"signal": "reward_rate", "targets": {"horizon": 1}, "tau_slow": 20, "tau_fast": 5}}}"#)
        let system = NeuromodulatorSystem(spec: s.neuromodulation)
        for _ in 0..<400 { system.observe(reward: 2, rpe: 0, steps: 4) }
        XCTAssertEqual(system.runMeans["serotonin.reward_rate"] ?? 0, -log(0.5), accuracy: 0.01)
        XCTAssertEqual(system.effects.horizon, 2, accuracy: 1e-9, "e^(−ln 0.5)")
        for _ in 0..<400 { system.observe(reward: 1, rpe: 0, steps: 10) }
        XCTAssertEqual(system.effects.horizon, 10, accuracy: 1e-6, "reward 0.1 per step: a ten times longer horizon")
        XCTAssertThrowsError(try parseSpec(#"{"model": {"layers": [784, 8, 10]}, "neuromodulation": {"serotonin": {"signal": "reward_rate", "targets": {"learning_rate": 1}}}}"#), "reward tasks only")
    }

    func testResumesBitForBit() throws {
        let s = try spec(dose: 1)
        let whole = try run(s)
        let first = try run(s, stopAt: 2_345)
        let resumed = TrainingLoop(IntertemporalFamily(spec: s))
        try resumed.restore(from: first.checkpoint())
        _ = try resumed.run(observer: RecordingObserver())
        XCTAssertEqual(resumed.family.state, whole.family.state)
        XCTAssertEqual(resumed.summary().objectValue?["later_choice_by_delay"], whole.summary().objectValue?["later_choice_by_delay"])
    }

    func testSpecRules() throws {
        func field(_ body: String) -> String? {
            do { _ = try parseSpec(body); return nil } catch { return (error as? SpecError)?.field }
        }
        XCTAssertEqual(field(#"{"protocol": {"kind": "bandit"}, "neuromodulation": {"serotonin": {"signal": "tonic", "targets": {"horizon": 1}}}}"#), "neuromodulation")
        XCTAssertEqual(field(#"{"protocol": {"kind": "intertemporal", "small_reward": 2, "large_reward": 2}}"#), "protocol.large_reward")
        XCTAssertEqual(field(#"{"protocol": {"kind": "intertemporal", "delays": [1, 2, 2]}}"#), "protocol.delays")
        XCTAssertEqual(field(#"{"protocol": {"kind": "intertemporal", "discount": 1}}"#), "protocol.discount")
        XCTAssertEqual(field(#"{"protocol": {"kind": "intertemporal"}, "model": {"layers": [1, 2]}}"#), "model")
        XCTAssertEqual(field(#"{"protocol": {"kind": "intertemporal"}, "neuromodulation": {"serotonin": {"targets": {"gain": 1}}}}"#), "neuromodulation")
        XCTAssertEqual(field(#"{"protocol": {"kind": "intertemporal"}, "optimizer": {"kind": "adam"}}"#), "optimizer.kind")
        XCTAssertNil(field(#"{"protocol": {"kind": "intertemporal"}, "neuromodulation": {"serotonin": {"targets": {"horizon": 1}}}}"#), "the patience clock may drive the horizon too")
    }
}
