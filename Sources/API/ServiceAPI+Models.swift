import Foundation
import Support
import HTTP
import Engine
import Storage
import Serving

extension ServiceAPI {
    /// Response header: the rows of the forward pass that answered this request (micro-batching).
    static let batchRowsHeader = "Neuromod-Batch-Rows"

    static func validModelName(_ s: String) -> Bool {
        guard let f = s.utf8.first, s.utf8.count <= 64, (f >= 48 && f <= 57) || (f | 0x20 >= 97 && f | 0x20 <= 122) else { return false }
        return s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) || $0 == 45 || $0 == 46 || $0 == 95 }
    }

    func registerModel(_ ctx: RequestContext) throws -> HTTPResponse {
        guard case .object(let o) = try jsonBody(ctx) else { throw APIError.invalid("body", "must be an object") }
        for key in o.keys where !["name", "run_id", "checkpoint_id"].contains(key) { throw APIError.invalid(key, "is not a known field") }
        guard case .string(let name)? = o["name"], Self.validModelName(name) else {
            throw APIError.invalid("name", "is required: 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        guard case .string(let runID)? = o["run_id"] else { throw APIError.invalid("run_id", "is required") }
        var checkpointID: String?
        if let c = o["checkpoint_id"], c != .null {
            guard case .string(let s) = c else { throw APIError.invalid("checkpoint_id", "must be a string") }
            checkpointID = s
        }
        let v = try models.register(name: name, runID: runID, checkpointID: checkpointID)
        var r = JSONResponse.make(201, versionJSON(v))
        r.headers.set("Location", "/v1/models/\(name)")
        return r
    }

    func versionJSON(_ v: ModelVersionRecord) -> JSONValue {
        .object(["name": .string(v.name), "version": .number(Double(v.version)), "run_id": .string(v.runID),
                 "checkpoint_id": .string(v.checkpointID), "created_at": Representation.timestamp(v.createdAt),
                 "origin": .string(v.origin), "parent_version": v.parentVersion.map { .number(Double($0)) } ?? .null])
    }

    func listModels(_ ctx: RequestContext) throws -> HTTPResponse {
        let items: [JSONValue] = try store.modelNames().map { name in
            let versions = try store.modelVersions(name: name)
            return .object(["name": .string(name), "latest_version": .number(Double(versions.last?.version ?? 0)),
                            "aliases": .object(try store.modelAliases(name: name).mapValues { .number(Double($0)) })])
        }
        return JSONResponse.make(200, JSONValue.object(["models": .array(items)]))
    }

    func getModel(_ ctx: RequestContext) throws -> HTTPResponse {
        let name = ctx.parameter("name")
        let versions = try store.modelVersions(name: name)
        guard let latest = versions.last else { throw APIError.notFound("model \(name)") }
        let served = try models.model(latest)
        let model = served.model
        let stats = served.statistics
        let run = try store.run(id: latest.runID)
        return JSONResponse.make(200, JSONValue.object([
            "name": .string(name),
            "versions": .array(versions.map(versionJSON)),
            "aliases": .object(try store.modelAliases(name: name).mapValues { .number(Double($0)) }),
            "input_shape": .array([.number(-1), .number(Double(model.inputWidth))]),
            "output_labels": .array(model.labels.map { .string($0) }),
            "model_kind": .string(model.spec.model.kind),
            "tasks": .number(Double(model.taskCount)),
            "requires_task": .bool(model.requiresTask),
            "serving": .object([
                "version": .number(Double(latest.version)),
                "requests": .number(Double(stats.requests)),
                "forward_passes": .number(Double(stats.forwardPasses)),
                "rows": .number(Double(stats.rows)),
                "max_batch": .number(Double(served.batching.maxRows)),
                "max_delay_us": .number((served.batching.maxDelay * 1e6).rounded()),
            ]),
            "latest_run": .object([
                "id": .string(latest.runID),
                "spec": run.map { .stored($0.spec) } ?? .null,
                "summary": run?.summary.map { .stored($0) } ?? .null,
            ]),
        ]))
    }

    func putAlias(_ ctx: RequestContext) throws -> HTTPResponse {
        let name = ctx.parameter("name"), alias = ctx.parameter("alias")
        guard Self.validModelName(alias) else { throw APIError.invalid("alias", "1–64 letters, digits, '.', '_' or '-'") }
        guard case .object(let o) = try jsonBody(ctx), let version = o["version"]?.intValue, version >= 1 else {
            throw APIError.invalid("version", "is required: a version number (a positive integer)")
        }
        let d = Double(version)
        try store.setModelAlias(name: name, alias: alias, version: version)
        models.aliasChanged(name: name, alias: alias)
        return JSONResponse.make(200, JSONValue.object(["name": .string(name), "alias": .string(alias), "version": .number(d)]))
    }

    func deleteAlias(_ ctx: RequestContext) throws -> HTTPResponse {
        try store.deleteModelAlias(name: ctx.parameter("name"), alias: ctx.parameter("alias"))
        models.aliasChanged(name: ctx.parameter("name"), alias: ctx.parameter("alias"))
        return HTTPResponse(status: 204)
    }

    func deleteVersion(_ ctx: RequestContext) throws -> HTTPResponse {
        guard let v = Int(ctx.parameter("version")), v >= 1 else { throw APIError.invalid("version", "must be a positive integer") }
        try store.deleteModelVersion(name: ctx.parameter("name"), version: v)
        models.forgetResolutions(of: ctx.parameter("name"))
        return HTTPResponse(status: 204)
    }

    /// The version a prediction request means (`?version=` or `?alias=`, else the latest).
    func requestedVersion(_ ctx: RequestContext, name: String) throws -> ModelVersionRecord {
        var version: Int?
        if let v = ctx.request.queryValue("version") {
            guard let n = Int(v), n >= 1 else { throw APIError.invalid("version", "must be a positive integer") }
            version = n
        }
        let alias = ctx.request.queryValue("alias")
        if version != nil && alias != nil { throw APIError.invalid("alias", "give version or alias, not both") }
        return try models.resolve(name: name, version: version, alias: alias)
    }

    func predict(_ ctx: RequestContext) throws -> HTTPResponse {
        let start = DispatchTime.now().uptimeNanoseconds
        let name = ctx.parameter("name")
        let v = try requestedVersion(ctx, name: name)
        let (inputs, task) = try Self.fastPredictBody(ctx.request.body) ?? predictBody(ctx)
        let prediction = try models.predict(v, alias: ctx.request.queryValue("alias"), inputs: inputs, task: task)
        let outputs = prediction.outputs, labels = prediction.model.labels
        // Written directly (keys sorted, as JSONValue writes them): no tree of values per number.
        var out: [UInt8] = []
        out.reserveCapacity(64 + outputs.count * (72 + 24 * (outputs.first?.count ?? 0)))
        out.append(contentsOf: #"{"model":"#.utf8)
        JSONValue.writeString(name, to: &out)
        out.append(contentsOf: #","predictions":["#.utf8)
        for (r, p) in outputs.enumerated() {
            let best = ModelServer.argmax(p)
            if r > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"class":"#.utf8)
            JSONValue.writeNumber(Double(best), to: &out)
            out.append(contentsOf: #","label":"#.utf8)
            JSONValue.writeString(labels[best], to: &out)
            out.append(contentsOf: #","prediction_id":""#.utf8)
            out.append(contentsOf: prediction.predictionIDs[r].utf8)
            out.append(contentsOf: #"","probabilities":["#.utf8)
            for (k, x) in p.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeNumber(Double(x), to: &out)
            }
            out.append(contentsOf: "]}".utf8)
        }
        out.append(contentsOf: #"],"version":"#.utf8)
        JSONValue.writeNumber(Double(prediction.version), to: &out)
        out.append(UInt8(ascii: "}"))
        var headers = HTTPHeaders()
        headers.set("Content-Type", "application/json")
        headers.set(Self.batchRowsHeader, String(prediction.batchRows))
        recordPrediction(model: name, rows: outputs.count, since: start)
        return HTTPResponse(status: 200, headers: headers, body: Data(out))
    }

    /// `{"inputs": [[…], …], "task": k | null}` read straight into rows of floats; nil for any
    /// other body (then ``predictBody(_:)`` parses it and names what is wrong).
    static func fastPredictBody(_ body: Data) -> (inputs: [[Float]], task: Int?)? {
        body.withUnsafeBytes { raw -> (inputs: [[Float]], task: Int?)? in
            var r = JSONNumbers(raw.bindMemory(to: UInt8.self))
            guard r.take(UInt8(ascii: "{")) else { return nil }
            var inputs: [[Float]]?
            var task: Int??
            if r.take(UInt8(ascii: "}")) { return nil }
            repeat {
                guard let key = r.plainString(), r.take(UInt8(ascii: ":")) else { return nil }
                switch key {
                case "inputs" where inputs == nil:
                    guard r.take(UInt8(ascii: "[")) else { return nil }
                    var rows: [[Float]] = []
                    if !r.take(UInt8(ascii: "]")) {
                        repeat {
                            guard let row = r.floatRow(expectedCount: rows.first?.count ?? 1024) else { return nil }
                            rows.append(row)
                        } while r.take(UInt8(ascii: ","))
                        guard r.take(UInt8(ascii: "]")) else { return nil }
                    }
                    inputs = rows
                case "task" where task == nil:
                    if r.null() { task = .some(nil); break }
                    guard let d = r.number(), d >= 0, d == d.rounded(), d < 1e9 else { return nil }
                    task = .some(Int(d))
                default:
                    return nil
                }
            } while r.take(UInt8(ascii: ","))
            guard r.take(UInt8(ascii: "}")), r.atEnd, let inputs else { return nil }
            return (inputs, task ?? nil)
        }
    }

    /// The general reading of a predict body, with an error naming the field at fault.
    func predictBody(_ ctx: RequestContext) throws -> (inputs: [[Float]], task: Int?) {
        guard case .object(let o) = try jsonBody(ctx) else { throw APIError.invalid("body", "must be an object") }
        for key in o.keys where key != "inputs" && key != "task" { throw APIError.invalid(key, "is not a known field") }
        var task: Int?
        if let t = o["task"], t != .null {
            guard let n = t.intValue, n >= 0 else { throw APIError.invalid("task", "must be a task index (an integer from 0)") }
            task = n
        }
        return (try Self.inputRows(o["inputs"], field: "inputs"), task)
    }

    /// `[[n, …], …]` as rows of floats, with an error naming `field[i][j]` at fault.
    static func inputRows(_ value: JSONValue?, field: String, maxRows: Int = .max) throws -> [[Float]] {
        guard case .array(let rows)? = value else { throw APIError.invalid(field, "is required: an array of input vectors") }
        guard rows.count <= maxRows else { throw APIError.invalid(field, "holds \(rows.count) inputs; at most \(maxRows)") }
        var inputs: [[Float]] = []
        inputs.reserveCapacity(rows.count)
        for (i, row) in rows.enumerated() {
            guard case .array(let values) = row else { throw APIError.invalid("\(field)[\(i)]", "must be an array of numbers") }
            var x: [Float] = []
            x.reserveCapacity(values.count)
            for (j, value) in values.enumerated() {
                guard case .number(let d) = value else { throw APIError.invalid("\(field)[\(i)][\(j)]", "must be a number") }
                x.append(Float(d))
            }
            inputs.append(x)
        }
        return inputs
    }
}
