import Foundation
import XCTest
import Support
@testable import Engine

final class StabilityGapTests: XCTestCase {
    func spec(_ scenario: String) throws -> ExperimentSpec {
        try parseSpec(#"{"seed": 5, "data": {"train_limit": 6000, "test_limit": 1000}, "protocol": {"kind": "split", "scenario": "\#(scenario)", "stability_probe": {"every": 2, "steps": 10}}, "model": {"layers": [784, 32, \#(scenario == "domain-incremental" ? 2 : 10)]}, "checkpoint_every_steps": 1000000}"#)
    }

    /// Earlier tasks are scored every 2 steps for the first 10 steps of each new task; the summary
    /// reports each switch's trough, depth and recovery; a resumed run probes the same.
    func testProbesEarlierTasksAfterEachSwitch() throws {
        let s = try spec("class-incremental")
        let (train, test) = try FashionMNIST.load()
        let loop = TrainingLoop<MLPFamily>(spec: s, train: train, test: test)
        let o = RecordingObserver()
        _ = try loop.run(observer: o)
        let task0 = o.metrics.filter { $0.key == "stability.task0.accuracy" }
        let starts = loop.schedule.taskStart
        XCTAssertEqual(task0.map(\.step), (1..<5).flatMap { t in stride(from: 2, through: 10, by: 2).map { starts[t] + $0 } })
        XCTAssertEqual(o.metrics.filter { $0.key == "stability.task3.accuracy" }.count, 5, "task 3 is probed after the last switch only")
        guard case .array(let gap)? = loop.summary().objectValue?["stability_gap"] else { return XCTFail("no stability_gap") }
        XCTAssertEqual(gap.count, 1 + 2 + 3 + 4)
        let first = try XCTUnwrap(gap.first?.objectValue)
        XCTAssertEqual(first["boundary"]?.numberValue, 1)
        XCTAssertEqual(first["before"]?.numberValue, loop.accuracyMatrix[0][0])
        let depth = try XCTUnwrap(first["depth"]?.numberValue)
        XCTAssertGreaterThan(depth, 0.5, "class-incremental: learning classes 2–3 wipes out task 0 at once")
        XCTAssertEqual(first["min"]?.numberValue ?? -1, (first["before"]?.numberValue ?? 0) - depth, accuracy: 1e-12)
        // Resumed mid-probe: the same probes and summary.
        let part = TrainingLoop<MLPFamily>(spec: s, train: train, test: test)
        let stop = RecordingObserver()
        stop.stopAt = starts[2] + 5
        _ = try part.run(observer: stop)
        let resumed = TrainingLoop<MLPFamily>(spec: s, train: train, test: test)
        try resumed.restore(from: part.checkpoint())
        _ = try resumed.run(observer: RecordingObserver())
        XCTAssertEqual(resumed.family.stability, loop.family.stability)
        XCTAssertThrowsError(try parseSpec(#"{"model": {"layers": [784, 8, 10]}, "protocol": {"stability_probe": {"every": 1}}}"#), "single has no switch")
        XCTAssertThrowsError(try parseSpec(#"{"model": {"layers": [784, 8, 10]}, "protocol": {"kind": "split", "stability_probe": {"every": 1, "steps": 5000}}}"#), "too many probes")
    }
}
