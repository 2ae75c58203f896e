import ArgumentParser
import Foundation
import API
import Engine
import HTTPServer
import Jobs
import ObjectStore
import Serving
import Storage
#if canImport(Glibc)
import Glibc
#endif

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the HTTP service and the training workers.")

    @Option(help: "Listen address (env NEUROMOD_HOST, default 127.0.0.1).") var host: String?
    @Option(help: "Listen port; 0 picks a free one (env NEUROMOD_PORT, default 8080).") var port: Int?
    @OptionGroup var storage: StorageOptions
    @Option(help: "Training worker threads (env NEUROMOD_WORKERS, default: half the cores, at least 1).") var workers: Int?
    @Option(name: .customLong("dataset-dir"), help: "Fashion-MNIST folder of gzip IDX files (env NEUROMOD_DATASET_DIR, default /usr/share/datasets/fashion-mnist).")
    var datasetDir: String?
    @Option(name: .customLong("handler-threads"), help: "HTTP handler threads (env NEUROMOD_HANDLER_THREADS, default 4).") var handlerThreads: Int?
    @Option(name: .customLong("max-connections"), help: "Open connections before new ones get 503 (env NEUROMOD_MAX_CONNECTIONS, default 1024).") var maxConnections: Int?
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body (env NEUROMOD_MAX_BODY_BYTES, default 1048576).") var maxBodyBytes: Int?
    @Option(name: .customLong("max-predict-body-bytes"), help: "Largest request body of prediction routes (env NEUROMOD_MAX_PREDICT_BODY_BYTES, default 16777216).")
    var maxPredictBodyBytes: Int?
    @Option(name: .customLong("max-queued-runs"), help: "Queued runs before submissions get 429 (env NEUROMOD_MAX_QUEUED_RUNS, default 1000).") var maxQueuedRuns: Int?
    @Option(name: .customLong("predict-max-batch"), help: "Micro-batching: most input rows per forward pass; 1 turns it off (env NEUROMOD_PREDICT_MAX_BATCH, default 64).")
    var predictMaxBatch: Int?
    @Option(name: .customLong("predict-max-delay-us"), help: "Micro-batching: microseconds a batch waits for more requests (env NEUROMOD_PREDICT_MAX_DELAY_US, default 0: coalesce only requests that overlap).")
    var predictMaxDelayMicros: Int?
    @Option(name: .customLong("feedback-per-second"), help: "Feedbacks accepted per model per second, in bursts of as many; more get 429 (env NEUROMOD_FEEDBACK_PER_SECOND, default 500).")
    var feedbackPerSecond: Int?
    @Option(name: .customLong("tokens-file"), help: "Bearer tokens, one `read|write TOKEN` per line; when set (or NEUROMOD_TOKENS is), every endpoint but liveness/readiness needs one (env NEUROMOD_TOKENS_FILE).")
    var tokensFile: String?
    @Option(name: .customLong("max-dataset-bytes"), help: "Largest data-set upload, refused with 413 before its body is read (env NEUROMOD_MAX_DATASET_BYTES, default 2147483648).")
    var maxDatasetBytes: Int?
    @Option(name: .customLong("disk-quota-bytes"), help: "Bytes uploaded data sets and checkpoints may take together: uploads beyond get 507, a run whose checkpoint would pass it fails (env NEUROMOD_DISK_QUOTA_BYTES, default 0: no quota).")
    var diskQuotaBytes: Int?
    @Option(help: "What this node does: all (the API and training, default), api (the API, no training) or worker (training; its HTTP server answers only health, readiness and metrics) (env NEUROMOD_ROLE).")
    var role: String?
    @Option(name: .customLong("node-id"), help: "This node's name in run leases; a later process of the same node takes back its runs at once, other nodes' only when their lease expires (env NEUROMOD_NODE_ID, default: one kept in <data-dir>/node-id).")
    var nodeID: String?
    @Option(name: .customLong("lease-seconds"), help: "How long a run's lease lasts without a heartbeat before another worker may take it over (env NEUROMOD_LEASE_SECONDS, default 15).")
    var leaseSeconds: Int?
    @Option(name: .customLong("object-store"), help: "Where checkpoints and uploaded data sets go: s3://bucket/prefix (endpoint NEUROMOD_S3_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) so that every node reaches them, or a folder (env NEUROMOD_OBJECT_STORE, default: the data folder).")
    var objectStore: String?
    @Option(name: .customLong("object-store-timeout"), help: "Seconds one object-store request may take before it is retried, with backoff (env NEUROMOD_OBJECT_STORE_TIMEOUT, default 30).")
    var objectStoreTimeout: Int?
    @Option(name: .customLong("worker-niceness"), help: "Scheduling niceness of the training threads, 0–19: above 0 a busy core answers HTTP requests first (env NEUROMOD_WORKER_NICENESS, default 10).")
    var workerNiceness: Int?
    @Option(name: .customLong("shutdown-grace"), help: "Seconds SIGTERM waits for in-flight requests (env NEUROMOD_SHUTDOWN_GRACE, default 8).") var shutdownGrace: Int?
    @Option(name: .customLong("log-format"), help: "text (timestamped lines) or json (one object per line, with every request; env NEUROMOD_LOG_FORMAT, default text).")
    var logFormat: String?

    /// Tokens from --tokens-file / NEUROMOD_TOKENS_FILE, or NEUROMOD_TOKENS (`read:TOKEN,write:TOKEN`).
    /// The node's name: given, or kept in `<data-dir>/node-id` (made once: `node_<random>`).
    static func nodeName(_ given: String?, dataDir: URL) throws -> String {
        if let given {
            guard (1...64).contains(given.count), given.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }) else {
                throw ConfigurationError("--node-id must be 1 to 64 letters, digits, '-', '_' or '.'")
            }
            return given
        }
        let file = dataDir.appendingPathComponent("node-id")
        if let kept = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !kept.isEmpty {
            return kept
        }
        let made = Identifier.make("node")
        try made.write(to: file, atomically: true, encoding: .utf8)
        return made
    }

    static func authenticator(file: String?) throws -> Authenticator? {
        let env = ProcessInfo.processInfo.environment
        let text: String
        if let path = file ?? env["NEUROMOD_TOKENS_FILE"] {
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ConfigurationError("cannot read the tokens file \(path)")
            }
        } else if let inline = env["NEUROMOD_TOKENS"], !inline.isEmpty {
            text = inline
        } else {
            return nil
        }
        do { return try Authenticator.parse(text) } catch let e as Authenticator.ConfigurationError {
            throw ConfigurationError("tokens: \(e.description)")
        }
    }

    /// Checkpoints (and, when nodes share an object store, uploaded data sets) go to the object
    /// store named by --object-store, else to the data folder.
    /// Returns the checkpoints as workers write and read them (patient: retried for up to two
    /// minutes), as request handlers read them (downloads, model loads: two attempts within a few
    /// seconds, then a 503, so that an outage cannot hold every handler thread), and the store
    /// data sets are shared through (nil unless it is S3).
    func openObjectStore(dataDir: URL, shared: Bool) throws -> (workers: CheckpointFiles, requests: CheckpointFiles, shared: (any BlobStore)?) {
        guard let text = Setting.optionalString(objectStore, "NEUROMOD_OBJECT_STORE"), !text.isEmpty else {
            if shared { Log.info("warning: the database is shared but checkpoints stay in \(dataDir.path); give every node --object-store s3://… so that any node can resume any run") }
            let local = CheckpointFiles(blobs: FolderBlobStore(root: dataDir))
            return (local, local, nil)
        }
        let location: ObjectStoreLocation
        do { location = try ObjectStoreLocation.parse(text) } catch {
            throw ConfigurationError("--object-store: \(error)")
        }
        let timeout = try Setting.int(objectStoreTimeout, "NEUROMOD_OBJECT_STORE_TIMEOUT", 30)
        guard (1...3600).contains(timeout) else { throw ConfigurationError("--object-store-timeout must be between 1 and 3600") }
        let blobs = try location.makeStore(timeoutSeconds: timeout)
        if let s3 = blobs as? S3BlobStore {
            do { try s3.client.createBucket() } catch {
                Log.info("could not create bucket \(s3.client.bucket) (it may exist, made by someone else): \(error)")
            }
        }
        Log.info("checkpoints and data sets in \(location)")
        let checkpoints = CheckpointFiles(blobs: blobs)
        if case .folder = location { return (checkpoints, checkpoints, nil) }
        let quick = try location.makeStore(timeoutSeconds: min(timeout, 10),
                                           retry: RetryPolicy(attempts: 2, baseDelay: 0.2, maxDelay: 1, deadline: 5))
        return (checkpoints, CheckpointFiles(blobs: quick), blobs)
    }

    /// In the background: removes objects no row records (a node died between writing an object
    /// and recording it), older than an hour so that writes in flight on other nodes are spared.
    static func sweepOrphanedObjects(store: Store, checkpoints: CheckpointFiles, sharedBlobs: (any BlobStore)?) {
        Thread.detachNewThread {
            do {
                let recorded = try store.recordedCheckpointFiles()
                let removed = try checkpoints.sweepOrphans(grace: 3600) { recorded.contains($0) }
                var datasets = 0
                if let sharedBlobs {
                    for blob in try sharedBlobs.list(prefix: "datasets/") where blob.modified < Date().addingTimeInterval(-3600) {
                        let id = String(blob.key.dropFirst("datasets/".count).prefix { $0 != "." })
                        if try store.dataset(id: id) == nil { try sharedBlobs.delete(blob.key); datasets += 1 }
                    }
                }
                if removed + datasets > 0 { Log.info("removed \(removed) checkpoint and \(datasets) data-set object(s) that no row records") }
            } catch {
                Log.info("orphan sweep skipped: \(error)")
            }
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        MemoryPolicy.returnLargeBlocks()
        let format = Setting.string(logFormat, "NEUROMOD_LOG_FORMAT", "text")
        guard let f = Log.Format(rawValue: format) else { throw ConfigurationError("--log-format must be text or json, got \(format)") }
        Log.format = f
        let dataDir = URL(fileURLWithPath: storage.resolvedDataDir).standardizedFileURL
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        guard let migrationsURL = Resources.locate("migrations", env: "NEUROMOD_MIGRATIONS_DIR") else {
            throw ConfigurationError("migrations folder not found (set NEUROMOD_MIGRATIONS_DIR)")
        }
        let store = try storage.openStore(migrations: migrationsURL, dataDir: dataDir)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let workerCount = try Setting.int(workers, "NEUROMOD_WORKERS", max(1, cores / 2))
        guard (1...64).contains(workerCount) else { throw ConfigurationError("--workers must be between 1 and 64") }
        let nodeRole = Setting.string(role, "NEUROMOD_ROLE", "all")
        guard ["all", "api", "worker"].contains(nodeRole) else { throw ConfigurationError("--role must be all, api or worker, got \(nodeRole)") }
        let lease = try Setting.int(leaseSeconds, "NEUROMOD_LEASE_SECONDS", 15)
        guard (1...3600).contains(lease) else { throw ConfigurationError("--lease-seconds must be between 1 and 3600") }
        let node = try Self.nodeName(Setting.optionalString(nodeID, "NEUROMOD_NODE_ID"), dataDir: dataDir)
        let (checkpoints, requestCheckpoints, sharedBlobs) = try openObjectStore(dataDir: dataDir, shared: store.dialect == .postgres)
        let datasetFiles = try DatasetFiles(root: dataDir.appendingPathComponent("datasets"))
        let swept = datasetFiles.sweepAbandonedUploads { id in (try? store.dataset(id: id)) != nil }
        if swept > 0 { Log.info("removed \(swept) upload file(s) a stop interrupted") }
        let datasets = DatasetLibrary(directory: Setting.string(datasetDir, "NEUROMOD_DATASET_DIR", DatasetLibrary.defaultFashionMNISTDirectory),
                                      uploads: { id in
                                          guard let r = try? store.dataset(id: id) else { return nil }
                                          let local = datasetFiles.url(id: r.id, format: r.format)
                                          // Uploaded through another node: fetched once from the shared store (digest checked on load).
                                          if let sharedBlobs, !FileManager.default.fileExists(atPath: local.path) {
                                              try? sharedBlobs.fetch(ServiceAPI.sharedDatasetKey(id: r.id, format: r.format), to: local)
                                          }
                                          return DatasetLibrary.Upload(path: local.path, sha256: r.sha256)
                                      })
        let maxDataset = try Setting.int(maxDatasetBytes, "NEUROMOD_MAX_DATASET_BYTES", 2 << 30)
        let quota = try Setting.int(diskQuotaBytes, "NEUROMOD_DISK_QUOTA_BYTES", 0)
        guard maxDataset >= 1024, quota >= 0 else { throw ConfigurationError("--max-dataset-bytes must be at least 1024 and --disk-quota-bytes not negative") }
        if !datasets.isAvailable("fashion-mnist") {
            Log.info("warning: Fashion-MNIST not found in \(datasets.directory); runs will fail until it is installed")
        }
        let pool = WorkerPool(store: store, datasets: datasets, checkpoints: checkpoints,
                              workers: nodeRole == "api" ? 0 : workerCount, leaseSeconds: Double(lease), node: node,
                              log: { Log.run($0, runID: $1) })
        pool.diskQuotaBytes = quota > 0 ? quota : nil
        pool.niceness = try Setting.int(workerNiceness, "NEUROMOD_WORKER_NICENESS", 10)
        guard (0...19).contains(pool.niceness) else { throw ConfigurationError("--worker-niceness must be between 0 and 19") }
        var options = ServiceAPI.Options()
        options.datasetFiles = datasetFiles
        options.sharedBlobs = sharedBlobs
        options.healthOnly = nodeRole == "worker"
        options.maxDatasetBytes = maxDataset
        options.diskQuotaBytes = quota > 0 ? quota : nil
        options.maxQueuedRuns = try Setting.int(maxQueuedRuns, "NEUROMOD_MAX_QUEUED_RUNS", 1000)
        options.authenticator = try Self.authenticator(file: tokensFile)
        if f == .json { options.accessLog = { Log.request($0) } }   // text logs no requests: no cost
        var serving = ModelServer.Options()
        serving.batching.maxRows = try Setting.int(predictMaxBatch, "NEUROMOD_PREDICT_MAX_BATCH", 64)
        guard (1...InferenceModel.maxBatch).contains(serving.batching.maxRows) else {
            throw ConfigurationError("--predict-max-batch must be between 1 and \(InferenceModel.maxBatch)")
        }
        let delay = try Setting.int(predictMaxDelayMicros, "NEUROMOD_PREDICT_MAX_DELAY_US", 0)
        guard (0...1_000_000).contains(delay) else { throw ConfigurationError("--predict-max-delay-us must be between 0 and 1000000") }
        serving.batching.maxDelay = Double(delay) / 1e6
        let feedbackRate = try Setting.int(feedbackPerSecond, "NEUROMOD_FEEDBACK_PER_SECOND", 500)
        guard (1...1_000_000).contains(feedbackRate) else { throw ConfigurationError("--feedback-per-second must be between 1 and 1000000") }
        serving.feedbackPerSecond = Double(feedbackRate)
        serving.diskQuotaBytes = quota > 0 ? quota : nil
        if let spec = Resources.locate("openapi.yaml", env: "NEUROMOD_OPENAPI"),
           let text = try? String(contentsOf: spec, encoding: .utf8) {
            options.openAPIDocument = text
        }
        let models = ModelServer(store: store, files: requestCheckpoints, options: serving)
        let api = ServiceAPI(store: store, files: requestCheckpoints, workers: pool, models: models, options: options)

        var config = ServerConfiguration()
        config.host = Setting.string(host, "NEUROMOD_HOST", "127.0.0.1")
        config.port = try Setting.int(port, "NEUROMOD_PORT", 8080)
        config.handlerThreads = try Setting.int(handlerThreads, "NEUROMOD_HANDLER_THREADS", 4)
        config.maxConnections = try Setting.int(maxConnections, "NEUROMOD_MAX_CONNECTIONS", 1024)
        config.limits.maxBodyBytes = try Setting.int(maxBodyBytes, "NEUROMOD_MAX_BODY_BYTES", 1 << 20)
        let predictBody = try Setting.int(maxPredictBodyBytes, "NEUROMOD_MAX_PREDICT_BODY_BYTES", 16 << 20)
        guard (1024...(1 << 30)).contains(config.limits.maxBodyBytes), (1024...(1 << 30)).contains(predictBody) else {
            throw ConfigurationError("--max-body-bytes and --max-predict-body-bytes must be between 1 KiB and 1 GiB")
        }
        config.limits.bodyLimit = api.bodyLimits(defaultBytes: config.limits.maxBodyBytes, predictBytes: predictBody)
        config.limits.routeBodyCeiling = predictBody
        config.limits.bodyDestination = api.bodyDestination()
        let grace = Double(try Setting.int(shutdownGrace, "NEUROMOD_SHUTDOWN_GRACE", 8))
        let server = HTTPServer(configuration: config, responder: api)
        if let s3 = checkpoints.blobs as? S3BlobStore {
            api.metrics.counter("neuromod_object_store_requests_total", help: "Requests sent to the S3 object store (retries included).") {
                [([:], Double(s3.client.requestCount))]
            }
            api.metrics.counter("neuromod_object_store_retries_total", help: "S3 requests sent again after a transport error, 5xx or 429.") {
                [([:], Double(s3.client.retryCount))]
            }
        }
        api.metrics.gauge("neuromod_http_open_connections", help: "Client connections open now.") { [([:], Double(server.openConnections))] }

        try pool.start()
        try server.start()
        Self.sweepOrphanedObjects(store: store, checkpoints: checkpoints, sharedBlobs: sharedBlobs)
        Log.info("listening on http://\(config.host):\(server.port) (data \(dataDir.path), database \(store.pool.location), \(workerCount) worker(s), "
                 + (options.authenticator == nil ? "no authentication)" : "bearer tokens required)"))
        // Machine-readable line for scripts and tests that start us on port 0.
        try? FileHandle.standardOutput.write(contentsOf: Data("LISTENING \(server.port)\n".utf8))

        let done = DispatchSemaphore(value: 0)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { done.signal() }
            source.resume()
            sources.append(source)
        }
        done.wait()
        Log.info("shutting down: draining requests and checkpointing running runs")
        let started = Date()
        let workersStopped = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            pool.shutdown(timeout: grace)
            workersStopped.signal()
        }
        server.shutdown(grace: grace)
        _ = workersStopped.wait(timeout: .now() + grace)
        Log.info(String(format: "stopped in %.2f s", Date().timeIntervalSince(started)))
        _ = sources
    }
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or upgrade the database schema, then exit.")
    @OptionGroup var storage: StorageOptions

    func run() throws {
        let dataDir = URL(fileURLWithPath: storage.resolvedDataDir)
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        guard let migrationsURL = Resources.locate("migrations", env: "NEUROMOD_MIGRATIONS_DIR") else {
            throw ConfigurationError("migrations folder not found (set NEUROMOD_MIGRATIONS_DIR)")
        }
        let migrator: Migrator
        let applied: [Int]
        if let url = try storage.postgresURL() {
            migrator = try Migrator(root: migrationsURL, dialect: .postgres)
            applied = try migrator.migrate(postgres: try PostgresPool(url: url, connections: 1))
        } else {
            migrator = try Migrator(root: migrationsURL, dialect: .sqlite)
            applied = try migrator.migrate(try DatabasePool(path: dataDir.appendingPathComponent("neuromod.sqlite").path, readers: 1))
        }
        print(applied.isEmpty ? "schema is at version \(migrator.latestVersion); nothing to do"
                              : "applied migrations \(applied.map(String.init).joined(separator: ", ")); schema at version \(migrator.latestVersion)")
    }
}
