import Foundation
import XCTest
import API
import Engine
import HTTP
import HTTPServer
import Jobs
import Serving
import Storage

enum Paths {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let migrations = repoRoot.appendingPathComponent("migrations")
    static let openAPI = repoRoot.appendingPathComponent("openapi.yaml")
    static let datasetDir = ProcessInfo.processInfo.environment["NEUROMOD_DATASET_DIR"] ?? DatasetLibrary.defaultFashionMNISTDirectory

    static func temporaryDirectory(_ tag: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nm-\(tag)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The real service (SQLite file, worker queue, model server, API) in this process. Clients
/// drive the API's router in memory by default; `transport: .socket` puts the real socket server
/// in front of it on a free port, for the tests where the socket matters.
final class ServiceHarness {
    enum Transport { case memory, socket }

    let dataDir: URL
    let store: Store
    let workers: WorkerPool
    let api: ServiceAPI
    let server: HTTPServer?
    var port: Int { server?.port ?? 0 }

    init(workers workerCount: Int = 1, transport: Transport = .memory, datasetDir: String = Paths.datasetDir,
         configure: (inout ServerConfiguration) -> Void = { _ in },
         options: (inout ServiceAPI.Options) -> Void = { _ in }, serving: (inout ModelServer.Options) -> Void = { _ in }) throws {
        dataDir = try Paths.temporaryDirectory("svc")
        store = try Store(path: dataDir.appendingPathComponent("neuromod.sqlite").path, migrations: try Migrator(directory: Paths.migrations))
        workers = WorkerPool(store: store, datasets: DatasetLibrary(directory: datasetDir),
                             checkpointRoot: dataDir.appendingPathComponent("checkpoints"), workers: workerCount)
        var o = ServiceAPI.Options()
        o.openAPIDocument = (try? String(contentsOf: Paths.openAPI, encoding: .utf8)) ?? ""
        options(&o)
        var servingOptions = ModelServer.Options()
        serving(&servingOptions)
        api = ServiceAPI(store: store, files: workers.files, workers: workers,
                         models: ModelServer(store: store, files: workers.files, options: servingOptions), options: o)
        var config = ServerConfiguration()
        config.port = 0
        configure(&config)
        if config.limits.routeBodyCeiling > config.limits.maxBodyBytes {
            // As `neuromod serve` does: each route's declared body cap, in the configured sizes.
            config.limits.bodyLimit = api.bodyLimits(defaultBytes: config.limits.maxBodyBytes, predictBytes: config.limits.routeBodyCeiling)
        }
        server = transport == .socket ? HTTPServer(configuration: config, responder: api) : nil
        try workers.start()
        try server?.start()
    }

    func stop() {
        server?.shutdown(grace: 2)
        workers.shutdown(timeout: 5)
        try? FileManager.default.removeItem(at: dataDir)
    }

    /// A client of the API: in memory, or a new connection with `transport: .socket`.
    func client() throws -> APIClient { try server.map { try TestHTTPClient(port: $0.port) } ?? InMemoryClient(api: api) }

    /// A new socket connection (needs `transport: .socket`).
    func socketClient() throws -> TestHTTPClient { try TestHTTPClient(port: port) }
}

/// Polls until `condition` returns a value or the deadline passes.
func eventually<T>(timeout: Double = 60, interval: Double = 0.05, _ what: String = "condition",
                   file: StaticString = #filePath, line: UInt = #line, _ condition: () throws -> T?) throws -> T {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let v = try condition() { return v }
        Thread.sleep(forTimeInterval: interval)
    }
    XCTFail("timed out waiting for \(what)", file: file, line: line)
    throw TestClientError.timeout
}

/// Small, fast run specs on real Fashion-MNIST slices.
enum Specs {
    static func mlp(trainLimit: Int = 2000, testLimit: Int = 500, epochs: Int = 1, hidden: Int = 32, seed: Int = 1,
                    checkpointEvery: Int = 10, metricsEvery: Int = 5, optimizer: String = "sgd", extra: String = "") -> String {
        """
        {"seed": \(seed), "data": {"dataset": "fashion-mnist", "train_limit": \(trainLimit), "test_limit": \(testLimit)},
         "protocol": {"kind": "single", "epochs": \(epochs)},
         "model": {"kind": "mlp", "layers": [784, \(hidden), 10], "activation": "relu"},
         "optimizer": {"kind": "\(optimizer)", "batch_size": 64},
         "metrics_every_steps": \(metricsEvery), "checkpoint_every_steps": \(checkpointEvery)\(extra)}
        """
    }
}

extension APIClient {
    /// Creates an experiment and submits `spec` to it, expecting 202; returns the run id.
    func submitRun(_ spec: String, experiment name: String = "test",
                   file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let exp = try XCTUnwrap(try json("POST", "/v1/experiments", #"{"name": "\#(name)"}"#)["id"]?.string, file: file, line: line)
        let r = try json("POST", "/v1/experiments/\(exp)/runs", spec)
        XCTAssertEqual(r.status, 202, r.text, file: file, line: line)
        return try XCTUnwrap(r["id"]?.string, file: file, line: line)
    }

    /// Polls a run until it has ended (succeeded, failed or canceled); returns its last answer.
    func waitForRunEnd(_ run: String, timeout: Double = 120) throws -> TestResponse {
        try eventually(timeout: timeout, "run \(run) to end") { () -> TestResponse? in
            let r = try json("GET", "/v1/runs/\(run)")
            return ["succeeded", "failed", "canceled"].contains(r["state"]?.string ?? "") ? r : nil
        }
    }
}
