import Foundation
import Support

/// The stability gap (De Lange, van de Ven & Tuytelaars, 2023): right after a task switch, the
/// accuracy on earlier tasks drops sharply and may partly recover. With
/// `protocol.stability_probe`, a family scores every earlier task every `every` steps during the
/// first `steps` steps of each new task; this records the probes and summarises, per switch and
/// earlier task, the accuracy before the switch, the trough, its depth and step, and the steps
/// until half of the drop was recovered (null when it was not, within the window).
public struct StabilityGap: Sendable, Equatable, Codable {
    public struct Probe: Sendable, Equatable, Codable {
        public var boundary: Int
        public var task: Int
        /// Steps since the switch.
        public var step: Int
        public var accuracy: Double
    }

    public private(set) var probes: [Probe] = []

    /// Whether the step `since` steps into a task is probed.
    static func due(_ probe: ProtocolSpec.StabilityProbe?, since: Int) -> Bool {
        guard let probe else { return false }
        return since <= probe.steps && since % probe.every == 0
    }

    mutating func record(boundary: Int, task: Int, step: Int, accuracy: Double) {
        probes.append(Probe(boundary: boundary, task: task, step: step, accuracy: accuracy))
    }

    /// Per (switch, earlier task): `before` is the earlier task's accuracy when the previous task ended.
    func summary(accuracyMatrix: [[Double]]) -> JSONValue {
        let keys = Set(probes.map { [$0.boundary, $0.task] }).sorted { ($0[0], $0[1]) < ($1[0], $1[1]) }
        return .array(keys.compactMap { key -> JSONValue? in
            let (b, j) = (key[0], key[1])
            guard accuracyMatrix.indices.contains(b - 1), accuracyMatrix[b - 1].indices.contains(j) else { return nil }
            let series = probes.filter { $0.boundary == b && $0.task == j }.sorted { $0.step < $1.step }
            guard let trough = series.min(by: { $0.accuracy < $1.accuracy }) else { return nil }
            let before = accuracyMatrix[b - 1][j]
            let depth = before - trough.accuracy
            let recovered = series.first { $0.step > trough.step && $0.accuracy >= before - depth / 2 }
            return .object([
                "boundary": .number(Double(b)), "task": .number(Double(j)), "before": .number(before),
                "min": .number(trough.accuracy), "depth": .number(depth), "min_step": .number(Double(trough.step)),
                "recovery_steps": depth > 0 ? (recovered.map { .number(Double($0.step - trough.step)) } ?? .null) : .number(0),
                "last": .number(series.last!.accuracy),
            ])
        })
    }
}
