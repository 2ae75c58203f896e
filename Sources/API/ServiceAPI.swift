import Foundation
import HTTP
import Engine
import Storage
import Jobs

/// The /v1 HTTP API: one handler per operation of openapi.yaml.
public final class ServiceAPI: HTTPResponder, @unchecked Sendable {
    public struct Options: Sendable {
        /// Queued runs beyond this are refused with 429.
        public var maxQueuedRuns = 1000
        public var specLimits = SpecLimits()
        public var openAPIDocument = ""
        /// Micro-batching of concurrent predictions: most rows per forward pass (1: off).
        public var predictMaxBatch = 64
        /// Micro-batching: how long a batch waits for more requests, in seconds (0: only requests
        /// that arrive while the previous pass runs are coalesced; no added latency).
        public var predictMaxDelay: TimeInterval = 0
        /// Bearer-token access control; nil: every endpoint is open (loopback development).
        public var authenticator: Authenticator?
        public init() {}
    }

    let store: Store
    let workers: WorkerPool
    let options: Options
    let models: ModelCache
    public private(set) var router = Router()

    public init(store: Store, workers: WorkerPool, options: Options) {
        self.store = store
        self.workers = workers
        self.options = options
        models = ModelCache(batching: .init(maxRows: max(1, min(options.predictMaxBatch, InferenceModel.maxBatch)),
                                            maxDelay: max(0, options.predictMaxDelay)))
        registerRoutes()
    }

    /// Endpoints open without a token: liveness and readiness.
    static let openPaths: Set<String> = ["/v1/healthz", "/v1/readyz", "/v2/health/live", "/v2/health/ready"]

    /// The scope an operation needs: reads, predictions and v2 inference need `read`; the rest `write`.
    static func neededScope(method: String, path: String) -> Authenticator.Scope {
        if method == "GET" || method == "HEAD" { return .read }
        if method == "POST" && ((path.hasPrefix("/v1/models/") && path.hasSuffix("/predict")) ||
                                (path.hasPrefix("/v2/models/") && path.hasSuffix("/infer"))) { return .read }
        return .write
    }

    /// Per-route request body caps for the HTTP layer: prediction routes (`/v1/…/predict`, v2
    /// `…/infer`) take up to `predictBytes` (a batch of up to 1,024 images as JSON text is ~5 MB),
    /// every other route `defaultBytes`.
    public static func bodyLimits(defaultBytes: Int, predictBytes: Int) -> @Sendable (String, String) -> Int {
        { method, path in
            method == "POST" && ((path.hasPrefix("/v1/models/") && path.hasSuffix("/predict")) ||
                                 (path.hasPrefix("/v2/models/") && path.hasSuffix("/infer"))) ? predictBytes : defaultBytes
        }
    }

    public func respond(to request: HTTPRequest) -> HTTPResponse {
        if let auth = options.authenticator, !Self.openPaths.contains(request.path) {
            let decision = auth.authorize(request.headers["Authorization"],
                                          needs: Self.neededScope(method: request.method, path: request.path))
            switch decision {
            case .allowed: break
            case .unauthenticated(let message):
                var r = APIError(401, "unauthenticated", message).response
                r.headers.set("WWW-Authenticate", #"Bearer realm="neuromod""#)
                return r
            case .forbidden(let message):
                var r = APIError(403, "forbidden", message).response
                r.headers.set("WWW-Authenticate", #"Bearer realm="neuromod", error="insufficient_scope""#)
                return r
            }
        }
        switch router.match(method: request.method, path: request.path) {
        case .notFound:
            return APIError(404, "not_found", "no route for \(request.path.prefix(200))").response
        case .methodNotAllowed(let allowed):
            var r = APIError(405, "method_not_allowed", "\(request.method) is not allowed here; use \(allowed.joined(separator: ", "))").response
            r.headers.set("Allow", allowed.joined(separator: ", "))
            return r
        case .found(let handler, let params):
            do {
                return try handler(RequestContext(request: request, parameters: params))
            } catch {
                return APIError.from(error).response
            }
        }
    }

    private func registerRoutes() {
        router.add("GET", "/v1/healthz") { _ in JSONResponse.make(200, JSONValue.object(["status": .string("ok")])) }
        router.add("GET", "/v1/readyz") { [unowned self] _ in self.readiness() }
        router.add("GET", "/v1/openapi.yaml") { [unowned self] _ in
            .text(200, self.options.openAPIDocument, contentType: "application/yaml")
        }
        router.add("POST", "/v1/experiments") { [unowned self] in try self.createExperiment($0) }
        router.add("GET", "/v1/experiments") { [unowned self] in try self.listExperiments($0) }
        router.add("GET", "/v1/experiments/{experiment_id}") { [unowned self] in try self.getExperiment($0) }
        router.add("POST", "/v1/experiments/{experiment_id}/runs") { [unowned self] in try self.submitRun($0) }
        router.add("GET", "/v1/experiments/{experiment_id}/runs") { [unowned self] in try self.listRuns($0, experiment: true) }
        router.add("GET", "/v1/runs") { [unowned self] in try self.listRuns($0, experiment: false) }
        router.add("GET", "/v1/runs/{run_id}") { [unowned self] in try self.getRun($0) }
        router.add("POST", "/v1/runs/{run_id}/cancel") { [unowned self] in try self.cancelRun($0) }
        router.add("GET", "/v1/runs/{run_id}/summary") { [unowned self] in try self.runSummary($0) }
        router.add("GET", "/v1/runs/{run_id}/metrics") { [unowned self] in try self.listMetrics($0) }
        router.add("GET", "/v1/runs/{run_id}/metrics/{key}") { [unowned self] in try self.metricSeries($0) }
        router.add("GET", "/v1/runs/{run_id}/checkpoints") { [unowned self] in try self.listCheckpoints($0) }
        router.add("GET", "/v1/runs/{run_id}/checkpoints/{checkpoint_id}") { [unowned self] in try self.downloadCheckpoint($0) }
        router.add("POST", "/v1/models") { [unowned self] in try self.registerModel($0) }
        router.add("GET", "/v1/models") { [unowned self] in try self.listModels($0) }
        router.add("GET", "/v1/models/{name}") { [unowned self] in try self.getModel($0) }
        router.add("PUT", "/v1/models/{name}/aliases/{alias}") { [unowned self] in try self.putAlias($0) }
        router.add("DELETE", "/v1/models/{name}/aliases/{alias}") { [unowned self] in try self.deleteAlias($0) }
        router.add("DELETE", "/v1/models/{name}/versions/{version}") { [unowned self] in try self.deleteVersion($0) }
        router.add("POST", "/v1/models/{name}/predict") { [unowned self] in try self.predict($0) }
        router.add("GET", "/v2/health/live") { _ in JSONResponse.make(200, JSONValue.object(["live": .bool(true)])) }
        router.add("GET", "/v2/health/ready") { [unowned self] _ in
            let ready = self.store.isWritable() && self.workers.aliveWorkers == self.workers.workerCount
            return JSONResponse.make(ready ? 200 : 503, JSONValue.object(["ready": .bool(ready)]))
        }
        router.add("GET", "/v2/models/{name}") { [unowned self] in self.v2Metadata($0) }
        router.add("GET", "/v2/models/{name}/ready") { [unowned self] in self.v2Ready($0) }
        router.add("POST", "/v2/models/{name}/infer") { [unowned self] in self.v2Infer($0) }
        router.add("GET", "/v2/models/{name}/versions/{version}") { [unowned self] in self.v2Metadata($0) }
        router.add("GET", "/v2/models/{name}/versions/{version}/ready") { [unowned self] in self.v2Ready($0) }
        router.add("POST", "/v2/models/{name}/versions/{version}/infer") { [unowned self] in self.v2Infer($0) }
    }

    // MARK: - Health

    private func readiness() -> HTTPResponse {
        let dbOK = store.isWritable()
        let alive = workers.aliveWorkers
        let ready = dbOK && alive == workers.workerCount
        return JSONResponse.make(ready ? 200 : 503, JSONValue.object([
            "status": .string(ready ? "ready" : "not_ready"),
            "checks": .object([
                "database": .string(dbOK ? "writable" : "not writable"),
                "workers": .string("\(alive)/\(workers.workerCount) alive"),
            ]),
        ]))
    }

    // MARK: - Helpers

    func jsonBody(_ ctx: RequestContext) throws -> JSONValue {
        guard !ctx.request.body.isEmpty else { throw APIError(400, "invalid_json", "the request body must be a JSON object") }
        guard let v = JSONValue.parse(ctx.request.body) else {
            throw APIError(400, "invalid_json", "the request body is not valid JSON")
        }
        guard case .object = v else { throw APIError(400, "invalid_json", "the request body must be a JSON object") }
        return v
    }

    func idempotencyKey(_ ctx: RequestContext) throws -> String? {
        guard let key = ctx.request.headers["Idempotency-Key"] else { return nil }
        guard !key.isEmpty, key.utf8.count <= 200 else {
            throw APIError(400, "invalid_argument", "Idempotency-Key must be 1 to 200 characters", field: "Idempotency-Key")
        }
        return key
    }

    func paging(_ ctx: RequestContext, defaultLimit: Int = 50, maxLimit: Int = 500) throws -> (after: Int?, limit: Int) {
        var limit = defaultLimit
        if let l = ctx.request.queryValue("limit") {
            guard let v = Int(l), (1...maxLimit).contains(v) else {
                throw APIError.invalid("limit", "must be an integer between 1 and \(maxLimit)")
            }
            limit = v
        }
        var after: Int?
        if let t = ctx.request.queryValue("page_token") {
            guard let seq = PageToken.decode(t) else { throw APIError.invalid("page_token", "is not a valid page token") }
            after = seq
        }
        return (after, limit)
    }

    func requireRun(_ id: String) throws -> RunRecord {
        guard let run = try store.run(id: id) else { throw APIError.notFound("run \(id)") }
        return run
    }
}
