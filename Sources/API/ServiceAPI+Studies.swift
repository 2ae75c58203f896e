import Foundation
import Support
import HTTP
import Storage
import Studies

/// Studies: a design of cells × seeds queued as ordinary runs, reported with seed-paired statistics.
extension ServiceAPI {
    func createStudy(_ ctx: RequestContext) throws -> HTTPResponse {
        let experimentID = ctx.parameter("experiment_id")
        let body = try jsonBody(ctx)
        guard try store.experiment(id: experimentID) != nil else { throw APIError.notFound("experiment \(experimentID)") }
        let (study, created) = try studies.create(experimentID: experimentID, body: body, idempotencyKey: try idempotencyKey(ctx))
        if created { workers.wake() }
        var r = JSONResponse.make(202, try studies.report(id: study.id))
        r.headers.set("Location", "/v1/studies/\(study.id)")
        return r
    }

    /// One experiment's studies (`all`: every experiment's), in creation order.
    func listStudies(_ ctx: RequestContext, all: Bool = false) throws -> HTTPResponse {
        let (after, limit) = try paging(ctx, defaultLimit: 20)
        let page = try studies.list(experimentID: all ? nil : ctx.parameter("experiment_id"), after: after, limit: limit)
        let items: [JSONValue] = try page.items.map { study in
            let counts = try store.studyRunCounts(studyID: study.id)
            return .object([
                "id": .string(study.id), "name": .string(study.name), "experiment_id": .string(study.experimentID),
                "state": .string(StudyReport.state(counts: counts, cancelRequested: study.cancelRequested)),
                "runs": .number(Double(counts.values.reduce(0, +))),
                "created_at": Representation.timestamp(study.createdAt),
                "links": .object(["self": .string("/v1/studies/\(study.id)")]),
            ])
        }
        return JSONResponse.make(200, Representation.list("studies", items, next: page.nextAfter))
    }

    func getStudy(_ ctx: RequestContext) throws -> HTTPResponse {
        // Read first: whatever changes after the report was read has a later event.
        let cursor = try store.latestRunEventSeq()
        guard case .object(var report) = try studies.report(id: ctx.parameter("study_id")) else { throw APIError.notFound("study") }
        report["last_event_id"] = .number(Double(cursor))
        return JSONResponse.make(200, JSONValue.object(report))
    }

    func cancelStudy(_ ctx: RequestContext) throws -> HTTPResponse {
        let id = ctx.parameter("study_id")
        for run in try studies.cancel(id: id) { workers.cancelLocally(run) }
        return JSONResponse.make(202, try studies.report(id: id))
    }

    func studyResults(_ ctx: RequestContext, format: String) throws -> HTTPResponse {
        let (columns, rows) = try studies.rows(id: ctx.parameter("study_id"))
        if format == "csv" {
            return .text(200, StudyService.csv(columns: columns, rows: rows), contentType: "text/csv; charset=utf-8")
        }
        return .text(200, StudyService.jsonl(columns: columns, rows: rows), contentType: "application/x-ndjson")
    }
}
