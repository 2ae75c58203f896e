import Foundation
import Support
import HTTP
import Engine
import Storage
import Serving

/// Served models that keep learning: `/v1/models/{name}/aliases/{alias}/adaptation`,
/// `/v1/models/{name}/feedback` and `/v1/models/{name}/events`.
extension ServiceAPI {
    func putAdaptation(_ ctx: RequestContext) throws -> HTTPResponse {
        let name = ctx.parameter("name"), alias = ctx.parameter("alias")
        let body = try jsonBody(ctx)
        let policy = try AdaptationPolicy(json: body, allowing: ["canary"])
        var canary: (inputs: [[Float]], labels: [Int])?
        if case .object(let o) = body, let c = o["canary"], c != .null {
            guard case .object(let set) = c else { throw APIError.invalid("canary", "must be an object {inputs, labels}") }
            for key in set.keys.sorted() where key != "inputs" && key != "labels" { throw APIError.invalid("canary.\(key)", "is not a known field") }
            let inputs = try Self.inputRows(set["inputs"], field: "canary.inputs", maxRows: ModelServer.maxCanaryRows)
            guard case .array(let ys)? = set["labels"] else { throw APIError.invalid("canary.labels", "is required: one class per input") }
            var labels: [Int] = []
            for (i, y) in ys.enumerated() {
                guard let n = y.intValue else { throw APIError.invalid("canary.labels[\(i)]", "must be a class index") }
                labels.append(n)
            }
            canary = (inputs, labels)
        }
        let status = try models.startAdaptation(name: name, alias: alias, policy: policy, canary: canary)
        return JSONResponse.make(200, adaptationJSON(status))
    }

    func getAdaptation(_ ctx: RequestContext) throws -> HTTPResponse {
        JSONResponse.make(200, adaptationJSON(try models.adaptationStatus(name: ctx.parameter("name"), alias: ctx.parameter("alias"))))
    }

    func deleteAdaptation(_ ctx: RequestContext) throws -> HTTPResponse {
        try models.stopAdaptation(name: ctx.parameter("name"), alias: ctx.parameter("alias"))
        return HTTPResponse(status: 204)
    }

    func adaptationJSON(_ s: ModelServer.AdaptationStatus) -> JSONValue {
        func optional(_ x: Double?) -> JSONValue { x.map { .number($0) } ?? .null }
        return .object([
            "name": .string(s.record.name), "alias": .string(s.record.alias),
            "state": .string(s.record.state), "reason": s.record.reason.map { .string($0) } ?? .null,
            "policy": s.policy.json,
            "base_version": .number(Double(s.record.baseVersion)), "version": .number(Double(s.version)),
            "updates": .number(Double(s.updates)), "updates_since_snapshot": .number(Double(s.updatesSinceSnapshot)),
            "feedback": .number(Double(s.feedback)), "applied": .number(Double(s.applied)),
            "accuracy": optional(s.accuracy), "recent_accuracy": optional(s.recentAccuracy),
            "drift": .number(s.drift),
            "canary": s.canaryRows == 0 ? .null : .object(["rows": .number(Double(s.canaryRows)), "accuracy": optional(s.canaryAccuracy)]),
            "last_update": s.lastStep.map { stepJSON($0) } ?? .null,
            "created_at": Representation.timestamp(s.record.createdAt), "updated_at": Representation.timestamp(s.record.updatedAt),
        ])
    }

    func stepJSON(_ step: ReadoutLearner.Step) -> JSONValue {
        .object(["dopamine": .number(step.dopamine), "noradrenaline": .number(step.noradrenaline), "surprise": .number(step.surprise),
                 "plasticity": .number(step.plasticity), "drift": .number(step.drift), "shift_detected": .bool(step.shiftDetected)])
    }

    func postFeedback(_ ctx: RequestContext) throws -> HTTPResponse {
        let name = ctx.parameter("name")
        guard case .object(let o) = try jsonBody(ctx) else { throw APIError.invalid("body", "must be an object") }
        for key in o.keys.sorted() where !["prediction_id", "label", "reward"].contains(key) { throw APIError.invalid(key, "is not a known field") }
        guard case .string(let id)? = o["prediction_id"], !id.isEmpty, id.utf8.count <= 128 else {
            throw APIError.invalid("prediction_id", "is required: the prediction_id a prediction returned")
        }
        let outcome: AdaptationOutcome
        switch (o["label"], o["reward"]) {
        case (let label?, nil):
            guard let y = label.intValue, y >= 0 else { throw APIError.invalid("label", "must be a class index (an integer from 0)") }
            outcome = .label(y)
        case (nil, let reward?):
            guard case .number(let r) = reward, r.isFinite, (0...1).contains(r) else { throw APIError.invalid("reward", "must be a number from 0 to 1") }
            outcome = .reward(r)
        default:
            throw APIError.invalid("label", "give the true class (label) or a reward for the answer (reward), one of them")
        }
        let r = try models.feedback(name: name, predictionID: id, outcome: outcome)
        var out: [String: JSONValue] = [
            "prediction_id": .string(r.predictionID), "applied": .bool(r.applied),
            "reason": r.reason.map { .string($0) } ?? .null, "alias": r.alias.map { .string($0) } ?? .null,
            "state": r.state.map { .string($0) } ?? .null,
            "updates": r.updates.map { .number(Double($0)) } ?? .null,
            "version": r.version.map { .number(Double($0)) } ?? .null,
            "snapshot_version": r.snapshot.map { .number(Double($0)) } ?? .null,
            "update": r.step.map { stepJSON($0) } ?? .null,
        ]
        out["correct"] = r.step?.correct.map { .bool($0) } ?? .null
        return JSONResponse.make(200, JSONValue.object(out))
    }

    func listModelEvents(_ ctx: RequestContext) throws -> HTTPResponse {
        let name = ctx.parameter("name")
        var after = 0, limit = 1000
        if let a = ctx.request.queryValue("after") {
            guard let n = Int(a), n >= 0 else { throw APIError.invalid("after", "must be an event id (an integer from 0)") }
            after = n
        }
        if let l = ctx.request.queryValue("limit") {
            guard let n = Int(l), (1...1000).contains(n) else { throw APIError.invalid("limit", "must be an integer from 1 to 1000") }
            limit = n
        }
        guard !(try store.modelVersions(name: name)).isEmpty else { throw APIError.notFound("model \(name)") }
        let events = try store.modelEvents(name: name, after: after, limit: limit)
        return JSONResponse.make(200, JSONValue.object(["events": .array(events.map { e in
            .object(["id": .number(Double(e.seq)), "alias": e.alias.map { .string($0) } ?? .null, "kind": .string(e.kind),
                     "version": e.version.map { .number(Double($0)) } ?? .null,
                     "data": JSONValue.parse(Data(e.data.utf8)) ?? .object([:]),
                     "created_at": Representation.timestamp(e.createdAt)])
        })]))
    }
}
