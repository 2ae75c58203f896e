import Foundation
import XCTest
import Support
import Storage
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// Uploaded data sets through the real binary: streamed to disk and hashed on the way, refused
/// from the head when too large or over the quota, nothing left by a cut-short upload, several
/// at once, refused deletion while in use, and a run on an uploaded copy of Fashion-MNIST that
/// equals, bit for bit, the same run on the built-in one.
final class DatasetTests: XCTestCase {
    /// Runs Python (NumPy) to write fixture files into `dir`; `code` sees `d` (the folder) and `np`.
    static func python(_ code: String, in dir: URL) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import numpy as np, os, sys, zipfile\nd = sys.argv[1]\n" + code, dir.path]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TestClientError.malformed("python fixture failed: \(code)") }
    }

    /// Uploads a file's bytes; returns the answer.
    static func upload(_ c: TestHTTPClient, _ file: URL, query: String = "") throws -> TestResponse {
        let body = try Data(contentsOf: file)
        var head = "POST /v1/datasets\(query) HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: \(body.count)\r\n\r\n"
        if query.isEmpty { head = head.replacingOccurrences(of: "/v1/datasets ", with: "/v1/datasets?name=\(file.lastPathComponent) ") }
        try c.sendRaw(Array(head.utf8) + Array(body))
        return try c.readResponse()
    }

    /// The real binary on a data folder inside `dir`.
    static func serve(_ dir: URL, _ extra: [String] = []) throws -> ServiceProcess {
        let data = dir.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        return try ServiceProcess(dataDir: data, extraArguments: extra)
    }

    static func partFiles(_ dataDir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dataDir.appendingPathComponent("datasets").path)) ?? [])
            .filter { $0.hasPrefix(".upload-") }
    }

    func testUploadListGetAndTrainOnASmallNpz() throws {
        let dir = try Paths.temporaryDirectory("ds")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.python("""
            rng = np.random.default_rng(0)
            centers = rng.normal(0, 1, (3, 20)).astype(np.float32)
            def split(n, seed):
                r = np.random.default_rng(seed); y = r.integers(0, 3, n)
                return (centers[y] * 3 + r.normal(0, 1, (n, 20))).astype(np.float32), y.astype(np.int64)
            xtr, ytr = split(600, 1); xte, yte = split(200, 2)
            np.savez(os.path.join(d, 'blobs.npz'), x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
            bad = xtr.copy(); bad[5, 3] = np.nan
            np.savez(os.path.join(d, 'nan.npz'), x_train=bad, y_train=ytr, x_test=xte, y_test=yte)
            """, in: dir)
        let server = try Self.serve(dir)
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        let c = try server.client()
        let file = dir.appendingPathComponent("blobs.npz")
        let created = try Self.upload(c, file)
        XCTAssertEqual(created.status, 201, created.text)
        let id = try XCTUnwrap(created["id"]?.string)
        XCTAssertTrue(id.hasPrefix("ds_"))
        XCTAssertEqual(created.header("Location"), "/v1/datasets/\(id)")
        XCTAssertEqual(created["sha256"]?.string, SHA256.hex(try Data(contentsOf: file)), "hashed while receiving")
        XCTAssertEqual(created["bytes"]?.number, Double(try Data(contentsOf: file).count))
        XCTAssertEqual(created["format"]?.string, "npz")
        XCTAssertEqual(created["features"]?.number, 20)
        XCTAssertEqual(created["classes"]?.number, 3)
        XCTAssertEqual(created["counts", "train"]?.number, 600)
        XCTAssertEqual(created["counts", "test"]?.number, 200)
        XCTAssertEqual(try c.json("GET", "/v1/datasets/\(id)")["sha256"]?.string, created["sha256"]?.string)
        XCTAssertEqual(try c.json("GET", "/v1/datasets")["datasets"]?.array?.count, 1)
        XCTAssertEqual(try c.json("GET", "/v1/datasets/ds_nope").status, 404)

        // A corrupt file: 400 naming the array, nothing stored, nothing left on disk.
        let nan = try Self.upload(c, dir.appendingPathComponent("nan.npz"))
        XCTAssertEqual(nan.status, 400, nan.text)
        XCTAssertTrue(nan["error", "message"]?.string?.contains("x_train") ?? false, nan.text)
        XCTAssertEqual(try c.json("GET", "/v1/datasets")["datasets"]?.array?.count, 1)
        XCTAssertEqual(Self.partFiles(dir.appendingPathComponent("data")), [])
        let wrongDigest = try Self.upload(c, file, query: "?name=x&sha256=\(String(repeating: "0", count: 64))")
        XCTAssertEqual(wrongDigest.status, 400)
        XCTAssertEqual(wrongDigest["error", "details", "field"]?.string, "sha256")

        // Specs are checked against it: widths, classes, a pinned digest.
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "ds"}"#)["id"]?.string)
        let wide = try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"data": {"dataset": "\#(id)"}, "model": {"layers": [784, 16, 3]}}"#)
        XCTAssertEqual(wide.status, 400)
        XCTAssertEqual(wide["error", "details", "field"]?.string, "model.layers[0]", wide.text)
        let pinnedWrong = try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"data": {"dataset": "\#(id)", "sha256": "abc"}, "model": {"layers": [20, 16, 3]}}"#)
        XCTAssertEqual(pinnedWrong["error", "details", "field"]?.string, "data.sha256", pinnedWrong.text)
        let unknown = try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"data": {"dataset": "ds_0000"}, "model": {"layers": [20, 16, 3]}}"#)
        XCTAssertEqual(unknown["error", "details", "field"]?.string, "data.dataset", unknown.text)
        let run = try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"data": {"dataset": "\#(id)"}, "model": {"layers": [20, 32, 3]}, "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 32}, "protocol": {"epochs": 3}}"#)
        XCTAssertEqual(run.status, 202, run.text)
        XCTAssertEqual(run["spec", "data", "sha256"]?.string, created["sha256"]?.string, "the run records the data set's digest")
        XCTAssertEqual(run["spec", "data", "train_limit"]?.number, 600, "and its sizes")
        let runID = try XCTUnwrap(run["id"]?.string)
        // In use: no deletion while the run is queued or running.
        let busy = try c.json("DELETE", "/v1/datasets/\(id)")
        XCTAssertEqual(busy.status, 409, busy.text)
        XCTAssertTrue(busy["error", "message"]?.string?.contains(runID) ?? false)
        let done = try c.waitForRunEnd(runID)
        XCTAssertEqual(done["state"]?.string, "succeeded", done.text)
        let accuracy = try XCTUnwrap(try c.json("GET", "/v1/runs/\(runID)/summary")["summary", "test_accuracy"]?.number)
        XCTAssertGreaterThan(accuracy, 0.9, "three well-separated blobs are learned")
        XCTAssertEqual(try c.json("DELETE", "/v1/datasets/\(id)").status, 204)
        XCTAssertEqual(try c.json("GET", "/v1/datasets/\(id)").status, 404)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("data/datasets/\(id).npz").path))
    }

    func testLimitsQuotaCutShortAndConcurrentUploads() throws {
        let dir = try Paths.temporaryDirectory("ds-limits")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.python("""
            x = np.arange(40 * 8, dtype=np.uint8).reshape(40, 8); y = (np.arange(40) % 4).astype(np.int32)
            np.savez_compressed(os.path.join(d, 'small.npz'), x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
            """, in: dir)
        let file = dir.appendingPathComponent("small.npz")
        let size = try Data(contentsOf: file).count
        let data = dir.appendingPathComponent("data")
        let server = try Self.serve(dir, ["--max-dataset-bytes", "100000", "--disk-quota-bytes", String(3 * size + 10)])
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        // Over the size cap: 413 from the head alone, before any body byte is sent.
        let big = try server.client()
        try big.sendRaw("POST /v1/datasets HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000000\r\n\r\n")
        let refused = try big.readResponse()
        XCTAssertEqual(refused.status, 413, refused.text)
        // Cut short: the connection closes mid-body; the part file goes with it.
        let cut = try server.client()
        try cut.sendRaw("POST /v1/datasets HTTP/1.1\r\nHost: t\r\nContent-Length: \(2 * size)\r\n\r\n" + String(repeating: "x", count: size))
        try eventually(timeout: 10, "the part file to be written") { !Self.partFiles(data).isEmpty ? true : nil }
        close(cut.fd)
        try eventually(timeout: 10, "the part file to be removed") { Self.partFiles(data).isEmpty ? true : nil }
        // Several at once: each stored once, each whole.
        let port = server.port
        let statuses = Statuses()
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            statuses.add(((try? Self.upload(try TestHTTPClient(port: port), file))?.status) ?? -1)
        }
        XCTAssertEqual(statuses.all, [201, 201, 201])
        let c = try server.client()
        let list = try c.json("GET", "/v1/datasets")["datasets"]?.array ?? []
        XCTAssertEqual(Set(list.compactMap { $0["id"]?.string }).count, 3)
        XCTAssertEqual(Set(list.compactMap { $0["sha256"]?.string }).count, 1)
        // The quota (3 files + 10 bytes) is now full: 507 before the body, nothing written.
        let full = try Self.upload(c, file)
        XCTAssertEqual(full.status, 507, full.text)
        XCTAssertEqual(Self.partFiles(data), [])
        XCTAssertEqual(try server.client().json("GET", "/v1/datasets")["datasets"]?.array?.count, 3, "a refused upload closes its connection")
    }

    /// Uploaded data sets cost no memory until a run uses them: three 19 MB uploads (each read
    /// once to validate it) leave the server near its idle RSS.
    func testUnusedDataSetsLeaveTheServerNearItsIdleMemory() throws {
        let dir = try Paths.temporaryDirectory("ds-rss")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.python("""
            r = np.random.default_rng(0); x = r.random((5000, 784), dtype=np.float32); y = r.integers(0, 10, 5000)
            np.savez(os.path.join(d, 'big.npz'), x_train=x, y_train=y, x_test=x[:1000], y_test=y[:1000])
            """, in: dir)
        let server = try Self.serve(dir)
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        func rss() throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8)
            let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])! / 1024
        }
        XCTAssertEqual(try server.client().json("GET", "/v1/datasets").status, 200)
        let idle = try rss()
        let file = dir.appendingPathComponent("big.npz")
        for _ in 0..<3 {
            let c = try server.client()
            c.setTimeout(60)
            XCTAssertEqual(try Self.upload(c, file).status, 201)
        }
        let after = try rss()
        XCTAssertLessThan(after - idle, 20, "RSS \(idle) MB idle, \(after) MB after three 19 MB uploads")
    }

    /// A data set's own validation split (x_val, y_val) is what `validation: "provided"` scores:
    /// val metrics come from its rows, checkpoints are ranked on it, nothing trains on it.
    func testAProvidedValidationSplitIsScoredNotTrained() throws {
        let dir = try Paths.temporaryDirectory("ds-val")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.python("""
            rng = np.random.default_rng(3)
            c = rng.normal(0, 1, (4, 12)).astype(np.float32)
            def split(n):
                y = rng.integers(0, 4, n); return (c[y] * 2 + rng.normal(0, 1, (n, 12))).astype(np.float32), y
            xtr, ytr = split(512); xv, yv = split(160); xte, yte = split(200)
            np.savez(os.path.join(d, 'withval.npz'), x_train=xtr, y_train=ytr, x_val=xv, y_val=yv, x_test=xte, y_test=yte)
            np.savez(os.path.join(d, 'noval.npz'), x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
            """, in: dir)
        let server = try Self.serve(dir)
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        let c = try server.client()
        let with = try Self.upload(c, dir.appendingPathComponent("withval.npz"))
        XCTAssertEqual(with["counts", "validation"]?.number, 160, with.text)
        let without = try Self.upload(c, dir.appendingPathComponent("noval.npz"))
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "val"}"#)["id"]?.string)
        let refused = try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"data": {"dataset": "\#(without["id"]?.string ?? "")", "validation": "provided"}, "model": {"layers": [12, 16, 4]}}"#)
        XCTAssertEqual(refused["error", "details", "field"]?.string, "data.validation", refused.text)
        let id = try XCTUnwrap(with["id"]?.string)
        let run = try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"data": {"dataset": "\#(id)", "validation": "provided"}, "model": {"layers": [12, 16, 4]}, "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 32}, "protocol": {"epochs": 2}}"#)
        XCTAssertEqual(run.status, 202, run.text)
        XCTAssertEqual(run["spec", "data", "validation"]?.string, "provided")
        XCTAssertEqual(run["spec", "data", "train_limit"]?.number, 512, "the validation rows are not training rows")
        let runID = try XCTUnwrap(run["id"]?.string)
        XCTAssertEqual(try c.waitForRunEnd(runID)["state"]?.string, "succeeded")
        let steps = (512 + 31) / 32 * 2
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(runID)")["progress", "total"]?.number, Double(steps))
        let val = try c.json("GET", "/v1/runs/\(runID)/metrics/val.accuracy")["points"]?.array ?? []
        XCTAssertFalse(val.isEmpty)
        // Accuracies over 160 rows are multiples of 1/160.
        for p in val { let v = try XCTUnwrap(p["value"]?.number); XCTAssertEqual((v * 160).rounded(), v * 160, accuracy: 1e-6) }
        let checkpoints = try c.json("GET", "/v1/runs/\(runID)/checkpoints")["checkpoints"]?.array ?? []
        XCTAssertEqual(checkpoints.last?["score_metric"]?.string, "val.accuracy")
    }

    /// Event data (sample, t, channel) upload as a dense sequence and train a recurrent spiking
    /// network step by step; its sample shape sets the input layer and the number of steps.
    func testUploadedEventDataTrainAsASequence() throws {
        let dir = try Paths.temporaryDirectory("ds-events")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Two classes: channel 0 fires early then channel 1 late, or the reverse.
        try Self.python("""
            rng = np.random.default_rng(1)
            def split(n):
                ev = []; y = rng.integers(0, 2, n)
                for i in range(n):
                    a, b = (0, 1) if y[i] == 0 else (1, 0)
                    ev += [(i, 2 + rng.integers(0, 2), a), (i, 12 + rng.integers(0, 2), b)]
                return np.array(ev, dtype=np.int32), np.array([n, 16, 2], dtype=np.int64), y.astype(np.int64)
            e1, s1, y1 = split(400); e2, s2, y2 = split(100)
            np.savez(os.path.join(d, 'events.npz'), x_train_events=e1, x_train_shape=s1, y_train=y1,
                     x_test_events=e2, x_test_shape=s2, y_test=y2)
            """, in: dir)
        let server = try Self.serve(dir)
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        let c = try server.client()
        let up = try Self.upload(c, dir.appendingPathComponent("events.npz"))
        XCTAssertEqual(up.status, 201, up.text)
        XCTAssertEqual(up["sample_shape"]?.array?.compactMap(\.number), [16, 2])
        let id = try XCTUnwrap(up["id"]?.string)
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "events"}"#)["id"]?.string)
        let wrong = try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"data": {"dataset": "\#(id)"}, "model": {"kind": "snn", "layers": [2, 16, 2], "snn": {"steps": 10, "encoding": "sequence"}}}"#)
        XCTAssertEqual(wrong["error", "details", "field"]?.string, "model.snn.steps", wrong.text)
        let run = try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"seed": 1, "data": {"dataset": "\#(id)"}, "model": {"kind": "snn", "layers": [2, 16, 2], "snn": {"steps": 16, "encoding": "sequence", "readout": "max", "recurrent": true, "tau_syn": 3}}, "optimizer": {"learning_rate": 0.01, "batch_size": 32}, "protocol": {"epochs": 8}}"#)
        XCTAssertEqual(run.status, 202, run.text)
        let runID = try XCTUnwrap(run["id"]?.string)
        XCTAssertEqual(try c.waitForRunEnd(runID)["state"]?.string, "succeeded")
        let accuracy = try XCTUnwrap(try c.json("GET", "/v1/runs/\(runID)/summary")["summary", "test_accuracy"]?.number)
        XCTAssertGreaterThan(accuracy, 0.8, "the order of two spikes is learned (chance 0.5)")
    }

    /// The quota covers checkpoints too: a run whose checkpoint would pass it fails, saying so,
    /// and writes nothing (before, checkpoint_every_steps: 1 could fill the disk).
    func testACheckpointThatWouldPassTheQuotaFailsTheRun() throws {
        let dir = try Paths.temporaryDirectory("ds-quota")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try Self.serve(dir, ["--disk-quota-bytes", "200000"])
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        let c = try server.client()
        // 784·32 + 32·10 floats ≈ 102 KB a checkpoint: the first fits, the second does not.
        let run = try c.submitRun(Specs.mlp(trainLimit: 640, hidden: 32, checkpointEvery: 1))
        let end = try c.waitForRunEnd(run)
        XCTAssertEqual(end["state"]?.string, "failed")
        XCTAssertTrue(end["failure_reason"]?.string?.contains("disk quota exceeded") ?? false, end.text)
        let checkpoints = try c.json("GET", "/v1/runs/\(run)/checkpoints")["checkpoints"]?.array ?? []
        XCTAssertEqual(checkpoints.count, 1)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("data/checkpoints/\(run)").path)
        XCTAssertEqual(files.count, 1, "nothing half-written: \(files)")
    }

    /// From the head alone: no token is a 401 with its challenge (absolute-form targets too); a
    /// quota is reserved at the head, so of three concurrent uploads only those that fit pass; a
    /// refused name still removes the streamed body; an archive that would decode past the limit
    /// (a zip bomb) is refused before it is inflated.
    func testRefusalsFromTheHeadReservationsAndBombs() throws {
        let dir = try Paths.temporaryDirectory("ds-refuse")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.python("""
            x = (np.arange(40 * 80) % 7).astype(np.float32).reshape(40, 80); y = (np.arange(40) % 4).astype(np.int32)
            np.savez(os.path.join(d, 'small.npz'), x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
            z = np.zeros((200000, 10), dtype=np.float32)
            np.savez_compressed(os.path.join(d, 'bomb.npz'), x_train=z, y_train=np.arange(200000) % 2, x_test=z[:10], y_test=np.arange(10) % 2)
            """, in: dir)
        let small = dir.appendingPathComponent("small.npz")
        let size = try Data(contentsOf: small).count
        XCTAssertGreaterThan(2 * size + size / 2, try Data(contentsOf: dir.appendingPathComponent("bomb.npz")).count, "the bomb fits the quota")
        try "write \(AuthenticationTests.writeToken)\n".write(to: dir.appendingPathComponent("tokens"), atomically: true, encoding: .utf8)
        let data = dir.appendingPathComponent("data")
        let server = try Self.serve(dir, ["--tokens-file", dir.appendingPathComponent("tokens").path,
                                          "--max-dataset-bytes", "1000000", "--disk-quota-bytes", String(2 * size + size / 2)])
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        let auth = "Authorization: Bearer \(AuthenticationTests.writeToken)\r\n"
        let port = server.port
        @Sendable func post(_ target: String, _ file: URL, headers: String = "") throws -> TestResponse {
            let body = try Data(contentsOf: file)
            let c = try TestHTTPClient(port: port)
            c.setTimeout(60)
            try c.sendRaw(Array("POST \(target) HTTP/1.1\r\nHost: t\r\n\(headers)Content-Length: \(body.count)\r\n\r\n".utf8) + Array(body))
            return try c.readResponse()
        }
        for target in ["/v1/datasets", "http://t/v1/datasets"] {
            let anonymous = try post(target, small)
            XCTAssertEqual(anonymous.status, 401, target)
            XCTAssertEqual(anonymous["error", "code"]?.string, "unauthenticated")
            XCTAssertEqual(anonymous.header("WWW-Authenticate"), #"Bearer realm="neuromod""#)
        }
        XCTAssertEqual(Self.partFiles(data), [])
        let badName = try post("/v1/datasets?name=" + String(repeating: "n", count: 201), small, headers: auth)
        XCTAssertEqual(badName["error", "details", "field"]?.string, "name", badName.text)
        XCTAssertEqual(Self.partFiles(data), [], "the streamed body goes with the refusal")
        let bomb = try post("/v1/datasets", dir.appendingPathComponent("bomb.npz"), headers: auth)
        XCTAssertEqual(bomb.status, 400, bomb.text)
        XCTAssertTrue(bomb["error", "message"]?.string?.contains("would decode to more than 2000000 bytes") ?? false, bomb.text)
        // Room for two: three at once, and exactly two pass.
        let statuses = Statuses()
        DispatchQueue.concurrentPerform(iterations: 3) { _ in statuses.add(((try? post("http://t/v1/datasets", small, headers: auth))?.status) ?? -1) }
        XCTAssertEqual(statuses.all.sorted(), [201, 201, 507])
        XCTAssertEqual(Self.partFiles(data), [])
    }

    /// The four Debian Fashion-MNIST files, zipped and uploaded, train exactly as the built-in set.
    func testAnUploadedCopyOfFashionMNISTTrainsBitIdentically() throws {
        let dir = try Paths.temporaryDirectory("ds-fmnist")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.python("""
            src = '\(Paths.datasetDir)'
            with zipfile.ZipFile(os.path.join(d, 'fmnist.zip'), 'w', zipfile.ZIP_STORED) as z:
                for n in ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']:
                    z.write(os.path.join(src, n), n)
            """, in: dir)
        let server = try Self.serve(dir)
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        let c = try server.client()
        c.setTimeout(120)
        let up = try Self.upload(c, dir.appendingPathComponent("fmnist.zip"))
        XCTAssertEqual(up.status, 201, up.text)
        XCTAssertEqual(up["format"]?.string, "idx")
        XCTAssertEqual(up["counts", "train"]?.number, 60000)
        let id = try XCTUnwrap(up["id"]?.string)
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "same"}"#)["id"]?.string)
        var runs: [String] = []
        for dataset in ["fashion-mnist", id] {
            let spec = #"{"seed": 3, "data": {"dataset": "\#(dataset)", "train_limit": 2000, "test_limit": 500}, "model": {"layers": [784, 32, 10]}, "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 64}, "protocol": {"epochs": 2}, "metrics_every_steps": 5}"#
            let r = try c.json("POST", "/v1/experiments/\(exp)/runs", spec)
            XCTAssertEqual(r.status, 202, r.text)
            runs.append(try XCTUnwrap(r["id"]?.string))
        }
        for run in runs { XCTAssertEqual(try c.waitForRunEnd(run)["state"]?.string, "succeeded") }
        for key in ["train.loss", "test.accuracy", "test.loss"] {
            let a = try c.json("GET", "/v1/runs/\(runs[0])/metrics/\(key)")["points"]?.array?.compactMap { $0["value"]?.number }
            let b = try c.json("GET", "/v1/runs/\(runs[1])/metrics/\(key)")["points"]?.array?.compactMap { $0["value"]?.number }
            XCTAssertEqual(a, b, key)
            XCTAssertFalse(a?.isEmpty ?? true)
        }
        let checkpoints = try runs.map { try XCTUnwrap(try c.json("GET", "/v1/runs/\($0)/checkpoints")["checkpoints"]?.array?.last?["id"]?.string) }
        let weights = try zip(runs, checkpoints).map { run, ckpt -> [String: [Float]] in
            let file = try c.request("GET", "/v1/runs/\(run)/checkpoints/\(ckpt)").body
            return try Safetensors.decode(file).tensors.mapValues(\.values)
        }
        XCTAssertEqual(weights[0]["layers.0.weight"], weights[1]["layers.0.weight"], "the same weights, bit for bit")
        XCTAssertEqual(weights[0]["layers.1.weight"], weights[1]["layers.1.weight"])
    }
}

/// Statuses collected from several threads.
final class Statuses: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int] = []
    func add(_ v: Int) { lock.lock(); values.append(v); lock.unlock() }
    var all: [Int] { lock.lock(); defer { lock.unlock() }; return values }
}
