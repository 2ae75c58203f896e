import Support
import XCTest
@testable import Engine

/// The readout learner of served-model adaptation on a small synthetic world: four classes whose
/// features are noisy class prototypes, a readout that starts right, then a relabelling.
final class OnlineAdaptationTests: XCTestCase {
    static let features = 16, classes = 4

    /// A readout that maps prototype c to class c.
    static func trainedReadout() -> ReadoutWeights {
        var w = [Float](repeating: 0, count: features * classes)
        for c in 0..<classes { for i in 0..<4 { w[(c * 4 + i) * classes + c] = 1.5 } }
        return ReadoutWeights(features: features, classes: classes, weights: w, bias: [Float](repeating: 0, count: classes))
    }

    /// A feature vector of class `c`: its prototype (4 active units) plus noise.
    static func sample(_ c: Int, _ rng: inout RandomSource) -> [Float] {
        (0..<features).map { i in max(0, (i / 4 == c ? 1 : 0) + Float(rng.normal() * 0.3)) }
    }

    /// `relabel` maps a true class to the label the world now gives it.
    func run(_ learner: ReadoutLearner, steps: Int, seed: UInt64, relabel: (Int) -> Int) -> (correct: Int, steps: [ReadoutLearner.Step]) {
        var rng = RandomSource(seed: seed)
        var correct = 0
        var out: [ReadoutLearner.Step] = []
        for _ in 0..<steps {
            let c = Int(rng.next() % UInt64(Self.classes))
            let h = Self.sample(c, &rng)
            let p = h.withUnsafeBufferPointer { learner.current.probabilities($0.baseAddress!, rows: 1) }
            let answered = p.indices.max { p[$0] < p[$1] }!
            if answered == relabel(c) { correct += 1 }
            out.append(learner.learn(features: h, answered: answered, outcome: .label(relabel(c)))!)
        }
        return (correct, out)
    }

    static func swap01(_ c: Int) -> Int { c == 0 ? 1 : c == 1 ? 0 : c }

    func testDopamineGatedUpdatesLearnARelabelledWorldAndStayQuietWhenRight() {
        var policy = AdaptationPolicy()
        policy.learningRate = 0.1
        policy.maxDrift = 10
        let learner = ReadoutLearner(policy: policy, anchor: Self.trainedReadout(), start: Self.trainedReadout())
        let before = run(learner, steps: 100, seed: 1, relabel: { $0 })
        XCTAssertGreaterThan(before.correct, 95, "the starting readout is right")
        XCTAssertLessThan(before.steps.map(\.dopamine).reduce(0, +) / 100, 0.2, "little dopamine while the model is right and confident")
        let shifted = run(learner, steps: 400, seed: 2, relabel: Self.swap01)
        let late = run(learner, steps: 200, seed: 3, relabel: Self.swap01)
        XCTAssertLessThan(shifted.steps.prefix(20).filter { $0.correct == true }.count, 15, "the relabelled classes start wrong")
        XCTAssertGreaterThan(late.correct, 185, "feedback taught the new labels")
    }

    func testRewardFeedbackMovesTheAnsweredClassByTheSignOfItsPredictionError() {
        var policy = AdaptationPolicy()
        policy.learningRate = 0.5
        var rng = RandomSource(seed: 4)
        let h = Self.sample(2, &rng)
        for reward in [1.0, 0.0] {
            let learner = ReadoutLearner(policy: policy, anchor: Self.trainedReadout(), start: Self.trainedReadout())
            let p0 = h.withUnsafeBufferPointer { learner.current.probabilities($0.baseAddress!, rows: 1) }[2]
            guard let step = learner.learn(features: h, answered: 2, outcome: .reward(reward)) else { return XCTFail() }
            let p1 = h.withUnsafeBufferPointer { learner.current.probabilities($0.baseAddress!, rows: 1) }[2]
            XCTAssertEqual(step.dopamine, reward - Double(p0), accuracy: 1e-6, "RPE = reward − confidence")
            XCTAssertNil(step.correct)
            if reward > 0 { XCTAssertGreaterThan(p1, p0) } else { XCTAssertLessThan(p1, p0) }
        }
    }

    func testNoradrenalineDetectsTheShiftAndRaisesPlasticity() {
        var policy = AdaptationPolicy()
        policy.learningRate = 0.05
        policy.noradrenaline = .init()
        let learner = ReadoutLearner(policy: policy, anchor: Self.trainedReadout(), start: Self.trainedReadout())
        let calm = run(learner, steps: 300, seed: 5, relabel: { $0 })
        XCTAssertEqual(calm.steps.dropFirst(20).filter(\.shiftDetected).count, 0, "no shift in a stationary world")
        let shifted = run(learner, steps: 100, seed: 6, relabel: Self.swap01)
        let detected = shifted.steps.firstIndex(where: \.shiftDetected)
        XCTAssertNotNil(detected)
        XCTAssertLessThan(detected ?? 100, 30, "detected within 30 feedbacks of the shift")
        XCTAssertGreaterThan(shifted.steps.map(\.plasticity).max() ?? 1, 2)
        XCTAssertEqual(calm.steps.last?.plasticity ?? 0, 1, accuracy: 0.5)
    }

    func testConsolidationAndTheDriftBoundKeepTheReadoutNearItsAnchor() {
        var free = AdaptationPolicy()
        free.learningRate = 0.1
        free.maxDrift = 100
        var anchored = free
        anchored.consolidation = 0.02
        var bounded = free
        bounded.maxDrift = 0.2
        let a = ReadoutLearner(policy: free, anchor: Self.trainedReadout(), start: Self.trainedReadout())
        let b = ReadoutLearner(policy: anchored, anchor: Self.trainedReadout(), start: Self.trainedReadout())
        let c = ReadoutLearner(policy: bounded, anchor: Self.trainedReadout(), start: Self.trainedReadout())
        _ = run(a, steps: 300, seed: 7, relabel: Self.swap01)
        _ = run(b, steps: 300, seed: 7, relabel: Self.swap01)
        let steps = run(c, steps: 300, seed: 7, relabel: Self.swap01).steps
        XCTAssertLessThan(b.drift, a.drift * 0.8, "serotonin pulls back toward the registered readout")
        XCTAssertLessThanOrEqual(steps.map(\.drift).max() ?? 1, 0.2 + 1e-9)
        XCTAssertEqual(c.drift, 0.2, accuracy: 1e-3, "the bound is reached and held")
        // A reset returns to given weights exactly.
        a.reset(to: Self.trainedReadout())
        XCTAssertEqual(a.drift, 0)
        XCTAssertEqual(a.current.weights, Self.trainedReadout().weights)
    }

    func testWhatDoesNotFitOrWouldNotBeFiniteChangesNothing() {
        let learner = ReadoutLearner(policy: AdaptationPolicy(), anchor: Self.trainedReadout(), start: Self.trainedReadout())
        let h = [Float](repeating: 0.5, count: Self.features)
        XCTAssertNil(learner.learn(features: Array(h.prefix(3)), answered: 0, outcome: .label(1)), "features of another width")
        XCTAssertNil(learner.learn(features: h, answered: 9, outcome: .label(1)), "an answer outside the classes")
        XCTAssertNil(learner.learn(features: h, answered: 0, outcome: .label(4)), "a label outside the classes")
        XCTAssertNil(learner.learn(features: h, answered: 0, outcome: .reward(-1)), "rewards are in [0, 1]")
        XCTAssertNil(learner.learn(features: h.map { _ in .infinity }, answered: 0, outcome: .label(1)))
        var huge = AdaptationPolicy()
        huge.learningRate = 10
        huge.maxDrift = 100
        let overflowing = ReadoutLearner(policy: huge, anchor: Self.trainedReadout(), start: Self.trainedReadout())
        XCTAssertNil(overflowing.learn(features: h.map { _ in 3e38 }, answered: 0, outcome: .label(1)), "logits that overflow Float")
        XCTAssertEqual(learner.updates + overflowing.updates, 0)
        XCTAssertEqual(overflowing.current.weights, Self.trainedReadout().weights)
    }

    func testPolicyJSONNamesTheFieldAtFault() throws {
        let ok = try AdaptationPolicy(json: .object(["learning_rate": .number(0.3), "noradrenaline": .object(["gain": .number(2)])]))
        XCTAssertEqual(ok.learningRate, 0.3)
        XCTAssertEqual(ok.noradrenaline?.gain, 2)
        for (json, field) in [(JSONValue.object(["learning_rate": .number(0)]), "learning_rate"),
                              (.object(["max_drift": .string("x")]), "max_drift"),
                              (.object(["noradrenaline": .object(["fast_rate": .number(0.01), "slow_rate": .number(0.1)])]), "noradrenaline.slow_rate"),
                              (.object(["noradrenaline": .number(1)]), "noradrenaline"),
                              (.object(["snapshot_every": .number(1.5)]), "snapshot_every"),
                              (.array([]), "body")] {
            XCTAssertThrowsError(try AdaptationPolicy(json: json)) { XCTAssertEqual(($0 as? SpecError)?.field, field) }
        }
        let roundTrip = try JSONDecoder().decode(AdaptationPolicy.self, from: try JSONEncoder().encode(ok))
        XCTAssertEqual(roundTrip, ok)
    }
}
