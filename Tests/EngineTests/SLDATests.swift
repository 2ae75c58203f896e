import Foundation
import XCTest
import Support
@testable import Engine

final class SLDATests: XCTestCase {
    /// The batched update gives the exact class means and pooled within-class scatter, whatever
    /// the batch size.
    func testStreamingStatisticsAreExactForAnyBatching() throws {
        var rng = RandomSource(seed: 3)
        let n = 200, d = 5, k = 3
        let x = (0..<(n * d)).map { _ in Float(rng.normal()) }
        let y = (0..<n).map { _ in rng.below(k) }
        func stream(_ batch: Int) -> StreamingLDA {
            let lda = StreamingLDA(features: d, classes: k, shrinkage: 1e-3)
            var begin = 0
            while begin < n {
                let count = min(batch, n - begin)
                x.withUnsafeBufferPointer { lda.update($0.baseAddress! + begin * d, labels: Array(y[begin..<(begin + count)]), count: count) }
                begin += count
            }
            return lda
        }
        // Direct computation in Double.
        var mean = [[Double]](repeating: [Double](repeating: 0, count: d), count: k)
        var counts = [Double](repeating: 0, count: k)
        for i in 0..<n { counts[y[i]] += 1; for j in 0..<d { mean[y[i]][j] += Double(x[i * d + j]) } }
        for c in 0..<k { for j in 0..<d { mean[c][j] /= counts[c] } }
        var scatter = [Double](repeating: 0, count: d * d)
        for i in 0..<n { for a in 0..<d { for b in 0..<d {
            scatter[a * d + b] += (Double(x[i * d + a]) - mean[y[i]][a]) * (Double(x[i * d + b]) - mean[y[i]][b])
        } } }
        for batch in [1, 7, 64, 200] {
            let lda = stream(batch)
            for c in 0..<k {
                XCTAssertEqual(Double(lda.counts[c]), counts[c])
                for j in 0..<d { XCTAssertEqual(Double(lda.means[c * d + j]), mean[c][j], accuracy: 1e-5, "batch \(batch)") }
            }
            for i in 0..<(d * d) { XCTAssertEqual(Double(lda.scatter[i]), scatter[i], accuracy: 2e-3 * max(1, abs(scatter[i])), "batch \(batch)") }
        }
        // Unseen classes are never predicted.
        let partial = StreamingLDA(features: d, classes: k, shrinkage: 1e-3)
        let only0 = (0..<n).filter { y[$0] == 0 }
        let rows = only0.flatMap { i in Array(x[(i * d)..<((i + 1) * d)]) }
        rows.withUnsafeBufferPointer { partial.update($0.baseAddress!, labels: only0.map { _ in 0 }, count: only0.count) }
        let scores = x.withUnsafeBufferPointer { partial.scores($0.baseAddress!, count: 4) }
        XCTAssertTrue(scores.enumerated().allSatisfy { $0.offset % k == 0 ? $0.element.isFinite : $0.element == -.infinity })
    }

    /// On class-incremental split Fashion-MNIST streaming LDA keeps what it saw (it has no weights
    /// to overwrite), resumes bit for bit, and is served as it evaluates.
    func testClassIncrementalRunResumesAndServes() throws {
        let spec = try parseSpec(#"{"seed": 2, "data": {"train_limit": 6000, "test_limit": 1000}, "protocol": {"kind": "split", "scenario": "class-incremental"}, "model": {"kind": "slda", "layers": [784, 10]}, "checkpoint_every_steps": 1000000}"#)
        let (train, test) = try FashionMNIST.load()
        let full = TrainingLoop<SLDAFamily>(spec: spec, train: train, test: test)
        _ = try full.run(observer: RecordingObserver())
        guard case .object(let s) = full.summary(), case .number(let average)? = s["average_accuracy"] else { return XCTFail() }
        XCTAssertGreaterThan(average, 0.5, "streaming LDA in class-incremental split: \(average)")
        XCTAssertEqual(s["forward_transfer"], .null)
        let first = TrainingLoop<SLDAFamily>(spec: spec, train: train, test: test)
        let stop = RecordingObserver()
        stop.stopAt = first.schedule.taskStart[3] + 2
        _ = try first.run(observer: stop)
        let resumed = TrainingLoop<SLDAFamily>(spec: spec, train: train, test: test)
        try resumed.restore(from: first.checkpoint())
        _ = try resumed.run(observer: RecordingObserver())
        XCTAssertEqual(resumed.family.continual.accuracyMatrix, full.family.continual.accuracyMatrix)
        XCTAssertEqual(resumed.lda.means.array, full.lda.means.array)
        // Served: the same argmax as the evaluation's.
        let model = try InferenceModel(checkpoint: full.checkpoint())
        let images = (0..<50).map { r in Array(UnsafeBufferPointer(start: test.inputs.pointer + r * 784, count: 784)) }
        let p = try model.predict(images)
        let correct = (0..<50).filter { r in p[r].indices.max { p[r][$0] < p[r][$1] } == Int(test.labels[r]) }.count
        XCTAssertGreaterThan(correct, 30)
        XCTAssertThrowsError(try parseSpec(#"{"model": {"kind": "slda", "layers": [784, 16, 10]}}"#))
        XCTAssertThrowsError(try parseSpec(#"{"model": {"kind": "slda", "layers": [784, 10]}, "neuromodulation": {"dopamine": {}}}"#))
    }
}
