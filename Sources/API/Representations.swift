import Foundation
import Support
import Engine
import Storage

/// JSON shapes of the /v1 resources (see openapi.yaml).
enum Representation {
    /// RFC 3339 UTC with milliseconds (``JSONValue/timestamp(_:)``).
    static func timestamp(_ t: Double?) -> JSONValue { JSONValue.timestamp(t) }

    static func experiment(_ e: ExperimentRecord) -> JSONValue {
        .object([
            "id": .string(e.id),
            "name": .string(e.name),
            "description": .string(e.description),
            "created_at": timestamp(e.createdAt),
            "links": .object(["runs": .string("/v1/experiments/\(e.id)/runs")]),
        ])
    }

    static func run(_ r: RunRecord) -> JSONValue {
        .object([
            "id": .string(r.id),
            "experiment_id": .string(r.experimentID),
            "state": .string(r.state.rawValue),
            "attempt": .number(Double(r.attempt)),
            "progress": .object([
                "completed": .number(Double(r.progressCompleted)),
                "total": .number(Double(r.progressTotal)),
                "unit": .string(r.progressUnit),
            ]),
            "cancel_requested": .bool(r.cancelRequested),
            "failure_reason": r.failureReason.map { .string($0) } ?? .null,
            "failures": .number(Double(r.failures)),
            "retry_not_before": r.state == .queued ? timestamp(r.notBefore) : .null,
            "created_at": timestamp(r.createdAt),
            "started_at": timestamp(r.startedAt),
            "finished_at": timestamp(r.finishedAt),
            "updated_at": timestamp(r.updatedAt),
            "spec": .stored(r.spec),   // stored as canonical JSON: written as is
            "spec_hash": .string(r.specHash),
            "study": r.studyID.map { id in
                .object(["id": .string(id), "cell": r.studyCell.map { .number(Double($0)) } ?? .null,
                         "seed": r.studySeed.map { .number(Double($0)) } ?? .null,
                         "replays_run": r.afterRun.map { .string($0) } ?? .null])
            } ?? .null,
            "links": .object([
                "self": .string("/v1/runs/\(r.id)"),
                "metrics": .string("/v1/runs/\(r.id)/metrics"),
                "checkpoints": .string("/v1/runs/\(r.id)/checkpoints"),
            ]),
        ])
    }

    static func checkpoint(_ c: CheckpointRecord) -> JSONValue {
        .object([
            "id": .string(c.id),
            "run_id": .string(c.runID),
            "step": .number(Double(c.step)),
            "size": .number(Double(c.size)),
            "sha256": .string(c.sha256),
            "created_at": timestamp(c.createdAt),
            "download": .string("/v1/runs/\(c.runID)/checkpoints/\(c.id)"),
            "score": c.score.map { .number($0) } ?? .null,
            "score_metric": c.scoreMetric.map { .string($0) } ?? .null,
        ])
    }

    static func list(_ key: String, _ items: [JSONValue], next: Int?) -> JSONValue {
        .object([key: .array(items), "next_page_token": next.map { .string(PageToken.encode($0)) } ?? .null])
    }
}

/// Opaque cursor tokens for list paging.
enum PageToken {
    static func encode(_ seq: Int) -> String {
        Data("v1:\(seq)".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ token: String) -> Int? {
        var s = token
        while s.count % 4 != 0 { s += "=" }
        guard s.count <= 64, let data = Data(base64Encoded: s), let text = String(data: data, encoding: .utf8),
              text.hasPrefix("v1:"), let seq = Int(text.dropFirst(3)), seq >= 0 else { return nil }
        return seq
    }
}
