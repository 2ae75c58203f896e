import Foundation
import Support
import HTTP
import Engine
import ObjectStore
import Storage
import Jobs
import Serving
import Studies
import Telemetry

/// One answered request, for the access log.
public struct AccessLogEntry: Sendable {
    public let requestID: String
    public let method: String
    /// The route's template (`/v1/runs/{run_id}`), or `unmatched`.
    public let route: String
    public let status: Int
    public let seconds: Double
}

/// The /v1 HTTP API: one handler per operation of openapi.yaml.
public final class ServiceAPI: HTTPResponder, @unchecked Sendable {
    public struct Options: Sendable {
        /// Queued runs beyond this are refused with 429.
        public var maxQueuedRuns = 1000
        public var specLimits = SpecLimits()
        public var openAPIDocument = ""
        /// Bearer-token access control; nil: every endpoint is open (loopback development).
        public var authenticator: Authenticator?
        /// Called once per answered request (the access log); nil: nothing is logged.
        public var accessLog: (@Sendable (AccessLogEntry) -> Void)?
        /// Where uploaded data sets are kept; nil: `datasets/` beside the checkpoints folder.
        public var datasetFiles: DatasetFiles?
        /// The object store nodes share, when there is one: an uploaded data set is put there
        /// (`datasets/<id>.<format>`) before its row is recorded, so any node can load it.
        public var sharedBlobs: (any BlobStore)?
        /// The largest data-set upload (413 beyond, before the body is read).
        public var maxDatasetBytes = 2 << 30
        /// Bytes data sets and checkpoints may take together (507 beyond); nil: no quota.
        public var diskQuotaBytes: Int?
        /// A worker node (`--role worker`): only liveness, readiness and metrics are answered.
        public var healthOnly = false
        public init() {}
    }

    let store: Store
    let files: CheckpointFiles
    let workers: WorkerPool
    let models: ModelServer
    let studies: StudyService
    let options: Options
    public private(set) var router = Router()
    /// What `GET /metrics` shows: requests and their latency by route and status here; the
    /// server adds its own gauges (open connections, SQLite writes).
    public let metrics = MetricsRegistry()
    /// Feeds the Server-Sent Events streams of runs.
    let eventHub: RunEventHub
    /// Uploaded data sets' files.
    let datasetFiles: DatasetFiles
    /// The disk quota's accounting (nil: no quota).
    let quotaLedger: QuotaLedger?

    /// The API over `store` (runs, metrics, registry), `files` (checkpoint downloads), `workers`
    /// (the training queue) and `models` (serving).
    public init(store: Store, files: CheckpointFiles, workers: WorkerPool, models: ModelServer, options: Options) {
        self.store = store
        self.files = files
        self.workers = workers
        self.models = models
        self.options = options
        eventHub = RunEventHub(store: store)
        // Without a folder given: `datasets/` beside a local checkpoint folder (tests), else a temporary one.
        let datasetRoot = ((files.blobs as? FolderBlobStore)?.root.deletingLastPathComponent()
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("neuromod-\(UUID().uuidString.prefix(8))"))
            .appendingPathComponent("datasets")
        datasetFiles = options.datasetFiles ?? (try? DatasetFiles(root: datasetRoot)) ?? DatasetFiles(unchecked: datasetRoot)
        studies = StudyService(store: store, limits: options.specLimits, catalog: Self.datasetCatalog(store))
        quotaLedger = options.diskQuotaBytes.map { quota in QuotaLedger(quota: quota) { [store] in try? store.storedBytes() } }
        registerRoutes()
        registerMetrics()
    }

    /// The access a request needs: its route's declaration; requests that match no route need
    /// a `read` token before they learn that (so an anonymous caller cannot map the API).
    public func access(method: String, path: String) -> RouteAccess {
        switch router.match(method: method, path: path) {
        case .found(let route, _): return route.access
        case .methodNotAllowed, .notFound: return .needs(.read)
        }
    }

    /// Per-route request body caps for the HTTP layer, from each route's declared ``BodyCap``:
    /// `predictions` routes take up to `predictBytes`, every other route `defaultBytes`.
    public func bodyLimits(defaultBytes: Int, predictBytes: Int) -> @Sendable (String, String) -> Int {
        let router = self.router
        return { method, path in
            router.bodyCap(method: method, path: path) == .predictions ? predictBytes : defaultBytes
        }
    }

    public func respond(to request: HTTPRequest) -> HTTPResponse {
        let start = DispatchTime.now().uptimeNanoseconds
        let requestID = Self.requestID(request.headers["X-Request-Id"])
        let match = router.match(method: request.method, path: request.path)
        var response = respond(to: request, match: match)
        response.headers.set("X-Request-Id", requestID)
        // The route's template, never the raw path, so that the series stay few.
        var route = "unmatched"
        if case .found(let r, _) = match { route = r.template }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        metrics.increment("neuromod_http_requests_total", ["method": request.method, "route": route, "status": String(response.status)])
        metrics.observe("neuromod_http_request_duration_seconds", ["route": route, "status": String(response.status)], seconds)
        options.accessLog?(AccessLogEntry(requestID: requestID, method: request.method, route: route, status: response.status, seconds: seconds))
        return response
    }

    /// The caller's `X-Request-Id` when it is 1 to 128 visible ASCII characters, else a new one:
    /// 32 hex digits, a random per-process prefix and a counter (unique without a syscall).
    static func requestID(_ given: String?) -> String {
        if let given, (1...128).contains(given.utf8.count), given.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) { return given }
        idLock.lock()
        idCounter &+= 1
        let n = idCounter
        idLock.unlock()
        return idPrefix + hex16(n)
    }

    private static let idLock = NSLock()
    nonisolated(unsafe) private static var idCounter: UInt64 = 0
    private static let idPrefix: String = {
        var g = SystemRandomNumberGenerator()
        return hex16(g.next())
    }()

    private static func hex16(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    private func respond(to request: HTTPRequest, match: Router.Match) -> HTTPResponse {
        if options.healthOnly, case .found(let route, _) = match,
           !["/v1/healthz", "/v1/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"].contains(route.template) {
            return APIError(404, "not_found", "this node is a worker (--role worker): it trains and answers only health, readiness and metrics; use an API node").response
        }
        if let auth = options.authenticator {
            var needed = RouteAccess.needs(.read)
            if case .found(let route, _) = match { needed = route.access }
            if case .needs(let scope) = needed {
                switch auth.authorize(request.headers["Authorization"], needs: scope) {
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
        }
        switch match {
        case .notFound:
            return APIError(404, "not_found", "no route for \(request.path.prefix(200))").response
        case .methodNotAllowed(let allowed):
            var r = APIError(405, "method_not_allowed", "\(request.method) is not allowed here; use \(allowed.joined(separator: ", "))").response
            r.headers.set("Allow", allowed.joined(separator: ", "))
            return r
        case .found(let route, let params):
            do {
                return try route.handler(RequestContext(request: request, parameters: params))
            } catch {
                return APIError.from(error).response
            }
        }
    }

    private func registerRoutes() {
        router.add("GET", "/", access: .open) { [unowned self] in self.dashboardPage($0) }
        router.add("GET", "/dashboard/{asset}", access: .open) { [unowned self] in try self.dashboardFile($0) }
        router.add("GET", "/v1/healthz", access: .open) { _ in JSONResponse.make(200, JSONValue.object(["status": .string("ok")])) }
        router.add("GET", "/v1/readyz", access: .open) { [unowned self] _ in self.readiness() }
        router.add("GET", "/metrics") { [unowned self] _ in
            .text(200, self.metrics.render(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
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
        router.add("GET", "/v1/runs/{run_id}/events") { [unowned self] in try self.runEvents($0) }
        router.add("GET", "/v1/runs/{run_id}/metrics/{key}") { [unowned self] in try self.metricSeries($0) }
        router.add("GET", "/v1/runs/{run_id}/checkpoints") { [unowned self] in try self.listCheckpoints($0) }
        router.add("GET", "/v1/runs/{run_id}/checkpoints/{checkpoint_id}") { [unowned self] in try self.downloadCheckpoint($0) }
        router.add("POST", "/v1/experiments/{experiment_id}/studies") { [unowned self] in try self.createStudy($0) }
        router.add("GET", "/v1/experiments/{experiment_id}/studies") { [unowned self] in try self.listStudies($0) }
        router.add("GET", "/v1/studies") { [unowned self] in try self.listStudies($0, all: true) }
        router.add("GET", "/v1/studies/{study_id}") { [unowned self] in try self.getStudy($0) }
        router.add("GET", "/v1/studies/{study_id}/events") { [unowned self] in try self.studyEvents($0) }
        router.add("POST", "/v1/studies/{study_id}/cancel") { [unowned self] in try self.cancelStudy($0) }
        router.add("GET", "/v1/studies/{study_id}/results.csv") { [unowned self] in try self.studyResults($0, format: "csv") }
        router.add("GET", "/v1/studies/{study_id}/results.jsonl") { [unowned self] in try self.studyResults($0, format: "jsonl") }
        router.add("POST", "/v1/datasets", body: .upload) { [unowned self] in try self.createDataset($0) }
        router.add("GET", "/v1/datasets") { [unowned self] in try self.listDatasets($0) }
        router.add("GET", "/v1/datasets/{dataset_id}") { [unowned self] in try self.getDataset($0) }
        router.add("DELETE", "/v1/datasets/{dataset_id}") { [unowned self] in try self.deleteDataset($0) }
        router.add("POST", "/v1/models") { [unowned self] in try self.registerModel($0) }
        router.add("GET", "/v1/models") { [unowned self] in try self.listModels($0) }
        router.add("GET", "/v1/models/{name}") { [unowned self] in try self.getModel($0) }
        router.add("PUT", "/v1/models/{name}/aliases/{alias}") { [unowned self] in try self.putAlias($0) }
        router.add("DELETE", "/v1/models/{name}/aliases/{alias}") { [unowned self] in try self.deleteAlias($0) }
        router.add("DELETE", "/v1/models/{name}/versions/{version}") { [unowned self] in try self.deleteVersion($0) }
        router.add("PUT", "/v1/models/{name}/aliases/{alias}/adaptation", body: .predictions) { [unowned self] in try self.putAdaptation($0) }
        router.add("GET", "/v1/models/{name}/aliases/{alias}/adaptation") { [unowned self] in try self.getAdaptation($0) }
        router.add("DELETE", "/v1/models/{name}/aliases/{alias}/adaptation") { [unowned self] in try self.deleteAdaptation($0) }
        router.add("POST", "/v1/models/{name}/feedback", access: .needs(.read)) { [unowned self] in try self.postFeedback($0) }
        router.add("GET", "/v1/models/{name}/events") { [unowned self] in try self.listModelEvents($0) }
        router.add("POST", "/v1/models/{name}/predict", access: .needs(.read), body: .predictions) { [unowned self] in try self.predict($0) }
        router.add("GET", "/v2/health/live", access: .open) { _ in JSONResponse.make(200, JSONValue.object(["live": .bool(true)])) }
        router.add("GET", "/v2/health/ready", access: .open) { [unowned self] _ in
            let ready = self.store.isWritable() && self.workers.aliveWorkers == self.workers.workerCount
            return JSONResponse.make(ready ? 200 : 503, JSONValue.object(["ready": .bool(ready)]))
        }
        router.add("GET", "/v2/models/{name}") { [unowned self] in self.v2Metadata($0) }
        router.add("GET", "/v2/models/{name}/ready") { [unowned self] in self.v2Ready($0) }
        router.add("POST", "/v2/models/{name}/infer", access: .needs(.read), body: .predictions) { [unowned self] in self.v2Infer($0) }
        router.add("GET", "/v2/models/{name}/versions/{version}") { [unowned self] in self.v2Metadata($0) }
        router.add("GET", "/v2/models/{name}/versions/{version}/ready") { [unowned self] in self.v2Ready($0) }
        router.add("POST", "/v2/models/{name}/versions/{version}/infer", access: .needs(.read), body: .predictions) { [unowned self] in self.v2Infer($0) }
    }

    // MARK: - Metrics

    private func registerMetrics() {
        metrics.counter("neuromod_http_requests_total", help: "HTTP requests answered, by method, route template and status.")
        metrics.histogram("neuromod_http_request_duration_seconds", help: "Time from routing a request to its response, by route template and status.")
        let store = self.store, workers = self.workers
        metrics.gauge("neuromod_runs", help: "Runs by state.") {
            RunState.allCases.map { state in (["state": state.rawValue], Double((try? store.countRuns(state: state)) ?? 0)) }
        }
        metrics.gauge("neuromod_queue_depth", help: "Runs waiting for a worker.") {
            [([:], Double((try? store.countRuns(state: .queued)) ?? 0))]
        }
        metrics.gauge("neuromod_workers", help: "Training workers.") { [([:], Double(workers.workerCount))] }
        metrics.gauge("neuromod_workers_busy", help: "Training workers executing a run now.") { [([:], Double(workers.busyWorkers))] }
        metrics.gauge("neuromod_worker_busy_ratio", help: "Busy workers over all workers.") {
            [([:], workers.workerCount > 0 ? Double(workers.busyWorkers) / Double(workers.workerCount) : 0)]
        }
        metrics.counter("neuromod_training_samples_total", help: "Training samples (or reward trials) processed by this process's workers; rate() gives samples/s.") {
            [([:], Double(workers.samplesTrained))]
        }
        metrics.counter("neuromod_predictions_total", help: "Rows predicted, by model name.")
        metrics.histogram("neuromod_prediction_duration_seconds", help: "Time to answer a prediction request (parsing, the forward pass, the answer), by model name.")
        metrics.histogram("neuromod_db_write_duration_seconds", help: "Database write transactions (SQLite or PostgreSQL), waits and reruns included.")
        let registry = metrics
        store.pool.onWrite = { registry.observe("neuromod_db_write_duration_seconds", [:], $0) }
    }

    /// Records a prediction request's rows and duration for `GET /metrics`.
    func recordPrediction(model: String, rows: Int, since start: UInt64) {
        metrics.increment("neuromod_predictions_total", ["model": model], by: Double(rows))
        metrics.observe("neuromod_prediction_duration_seconds", ["model": model], Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
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
