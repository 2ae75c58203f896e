import Foundation
import Support
import HTTP
import Engine
import Storage

extension ServiceAPI {
    func createExperiment(_ ctx: RequestContext) throws -> HTTPResponse {
        let body = try jsonBody(ctx)
        guard case .object(let o) = body else { throw APIError.invalid("body", "must be an object") }
        for key in o.keys where key != "name" && key != "description" {
            throw APIError.invalid(key, "is not a known field")
        }
        guard case .string(let name)? = o["name"] else { throw APIError.invalid("name", "is required and must be a string") }
        guard (1...200).contains(name.count) else { throw APIError.invalid("name", "must be 1 to 200 characters") }
        var description = ""
        if let d = o["description"] {
            guard case .string(let s) = d else { throw APIError.invalid("description", "must be a string") }
            guard s.count <= 4000 else { throw APIError.invalid("description", "must be at most 4000 characters") }
            description = s
        }
        let hash = SHA256.hex(ctx.request.body)
        let (record, created) = try store.createExperiment(name: name, description: description,
                                                           idempotencyKey: try idempotencyKey(ctx), requestHash: hash)
        var r = JSONResponse.make(created ? 201 : 200, Representation.experiment(record))
        r.headers.set("Location", "/v1/experiments/\(record.id)")
        return r
    }

    func listExperiments(_ ctx: RequestContext) throws -> HTTPResponse {
        let (after, limit) = try paging(ctx)
        let page = try store.listExperiments(after: after, limit: limit)
        return JSONResponse.make(200, Representation.list("experiments", page.items.map(Representation.experiment), next: page.nextAfter))
    }

    func getExperiment(_ ctx: RequestContext) throws -> HTTPResponse {
        let id = ctx.parameter("experiment_id")
        guard let e = try store.experiment(id: id) else { throw APIError.notFound("experiment \(id)") }
        return JSONResponse.make(200, Representation.experiment(e))
    }
}
