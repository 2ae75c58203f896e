import Foundation
import Support
import HTTP
import Engine
import Storage

extension ServiceAPI {
    func submitRun(_ ctx: RequestContext) throws -> HTTPResponse {
        let experimentID = ctx.parameter("experiment_id")
        let body = try jsonBody(ctx)
        let spec = try ExperimentSpec.parse(body, limits: options.specLimits, catalog: datasetCatalog)
        guard try store.experiment(id: experimentID) != nil else { throw APIError.notFound("experiment \(experimentID)") }
        let key = try idempotencyKey(ctx)
        do {
            let queued = try store.countRuns(state: .queued)
            if queued >= options.maxQueuedRuns {
                var e = APIError(429, "queue_full", "\(queued) runs are already queued (limit \(options.maxQueuedRuns)); retry later")
                e.headers = [("Retry-After", "30")]
                throw e
            }
        }
        let specText = String(decoding: spec.canonicalJSON(), as: UTF8.self)
        let (run, created) = try store.createRun(experimentID: experimentID, spec: specText, specHash: spec.hash,
                                                 progressTotal: spec.totalSteps, progressUnit: "steps",
                                                 idempotencyKey: key, requestHash: SHA256.hex(ctx.request.body))
        if created { workers.wake() }
        var r = JSONResponse.make(202, Representation.run(run))
        r.headers.set("Location", "/v1/runs/\(run.id)")
        return r
    }

    func listRuns(_ ctx: RequestContext, experiment: Bool) throws -> HTTPResponse {
        let (after, limit) = try paging(ctx)
        var experimentID: String?
        if experiment {
            let id = ctx.parameter("experiment_id")
            guard try store.experiment(id: id) != nil else { throw APIError.notFound("experiment \(id)") }
            experimentID = id
        }
        var state: RunState?
        if let s = ctx.request.queryValue("state") {
            guard let st = RunState(rawValue: s) else {
                throw APIError.invalid("state", "must be one of \(RunState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            state = st
        }
        var newestFirst = false
        if let o = ctx.request.queryValue("order") {
            guard o == "asc" || o == "desc" else { throw APIError.invalid("order", "must be asc (oldest first) or desc (newest first)") }
            newestFirst = o == "desc"
        }
        let page = try store.listRuns(experimentID: experimentID, state: state, newestFirst: newestFirst, after: after, limit: limit)
        return JSONResponse.make(200, Representation.list("runs", page.items.map(Representation.run), next: page.nextAfter))
    }

    func getRun(_ ctx: RequestContext) throws -> HTTPResponse {
        JSONResponse.make(200, Representation.run(try requireRun(ctx.parameter("run_id"))))
    }

    func cancelRun(_ ctx: RequestContext) throws -> HTTPResponse {
        let id = ctx.parameter("run_id")
        let run = try store.requestCancel(runID: id)
        if run.state == .running { workers.cancelLocally(id) }
        return JSONResponse.make(202, Representation.run(run))
    }

    /// The results summary: written at each checkpoint while the run trains, final once it ends.
    func runSummary(_ ctx: RequestContext) throws -> HTTPResponse {
        let run = try requireRun(ctx.parameter("run_id"))
        guard let text = run.summary else {
            throw APIError(404, "not_found", "run \(run.id) has no summary yet (one is written at its first checkpoint)")
        }
        return JSONResponse.make(200, JSONValue.object([
            "run_id": .string(run.id),
            "state": .string(run.state.rawValue),
            "final": .bool(run.state == .succeeded),
            "summary": .stored(text),   // stored serialized by the worker: written as is
        ]))
    }

    func listMetrics(_ ctx: RequestContext) throws -> HTTPResponse {
        let run = try requireRun(ctx.parameter("run_id"))
        // Read first: every point missing from the series read next has a later event.
        let cursor = try store.latestRunEventSeq()
        let keys = try store.metricKeys(runID: run.id)
        return JSONResponse.make(200, JSONValue.object([
            "run_id": .string(run.id),
            "last_event_id": .number(Double(cursor)),
            "metrics": .array(keys.map {
                .object(["key": .string($0.key), "count": .number(Double($0.count)),
                         "last_step": .number(Double($0.lastStep)), "last_value": .number($0.lastValue),
                         "series": .string("/v1/runs/\(run.id)/metrics/\($0.key)")])
            }),
        ]))
    }

    func metricSeries(_ ctx: RequestContext) throws -> HTTPResponse {
        let run = try requireRun(ctx.parameter("run_id"))
        let key = ctx.parameter("key")
        var after: Int?
        if let a = ctx.request.queryValue("after_step") {
            guard let v = Int(a) else { throw APIError.invalid("after_step", "must be an integer") }
            after = v
        }
        var limit = 1000
        if let l = ctx.request.queryValue("limit") {
            guard let v = Int(l), (1...10_000).contains(v) else { throw APIError.invalid("limit", "must be an integer between 1 and 10000") }
            limit = v
        }
        let (points, more) = try store.metricSeries(runID: run.id, key: key, afterStep: after, limit: limit)
        if points.isEmpty, after == nil, try !store.metricKeys(runID: run.id).contains(where: { $0.key == key }) {
            throw APIError.notFound("metric \(key) of run \(run.id)")
        }
        return JSONResponse.make(200, JSONValue.object([
            "run_id": .string(run.id),
            "key": .string(key),
            "points": .array(points.map {
                .object(["step": .number(Double($0.step)), "value": .number($0.value), "time": Representation.timestamp($0.time)])
            }),
            "next_after_step": more ? .number(Double(points.last!.step)) : .null,
        ]))
    }
}
