import Support
import XCTest
import Engine
import Storage

/// The /v1 API end to end: real server on loopback, real SQLite file, real training.
final class APIFlowTests: XCTestCase {
    var service: ServiceHarness!

    override func setUpWithError() throws { service = try ServiceHarness(workers: 1) }
    override func tearDown() { service.stop() }

    func createExperiment(_ c: APIClient, name: String = "exp") throws -> String {
        let r = try c.json("POST", "/v1/experiments", #"{"name": "\#(name)", "description": "test"}"#)
        XCTAssertEqual(r.status, 201, r.text)
        XCTAssertEqual(r.header("Location"), "/v1/experiments/\(r["id"]?.string ?? "")")
        return try XCTUnwrap(r["id"]?.string)
    }

    func waitForState(_ c: APIClient, _ runID: String, _ states: Set<String>, timeout: Double = 90) throws -> TestResponse {
        try eventually(timeout: timeout, "run \(runID) to reach \(states)") {
            let r = try c.json("GET", "/v1/runs/\(runID)")
            return states.contains(r["state"]?.string ?? "") ? r : nil
        }
    }

    func testSubmitPollReadMetricsAndDownloadCheckpoint() throws {
        let c = try service.client()
        let exp = try createExperiment(c)
        let submitted = try c.json("POST", "/v1/experiments/\(exp)/runs", Specs.mlp(epochs: 2))
        XCTAssertEqual(submitted.status, 202, submitted.text)
        let runID = try XCTUnwrap(submitted["id"]?.string)
        XCTAssertEqual(submitted.header("Location"), "/v1/runs/\(runID)")
        XCTAssertEqual(submitted["progress", "total"]?.int, 64)
        XCTAssertEqual(submitted["progress", "unit"]?.string, "steps")
        XCTAssertEqual(submitted["spec", "optimizer", "learning_rate"]?.number, 0.05, "defaults are filled in")

        let done = try waitForState(c, runID, ["succeeded", "failed"])
        XCTAssertEqual(done["state"]?.string, "succeeded", done.text)
        XCTAssertEqual(done["attempt"]?.int, 1)
        XCTAssertEqual(done["progress", "completed"]?.int, 64)
        XCTAssertNotNil(done["started_at"]?.string)
        XCTAssertNotNil(done["finished_at"]?.string)

        // Metric keys and series with paging.
        let keys = try c.json("GET", "/v1/runs/\(runID)/metrics")
        let names = Set((keys["metrics"]?.array ?? []).compactMap { v -> String? in
            if case .object(let o) = v { return o["key"]?.string } else { return nil }
        })
        XCTAssertTrue(names.isSuperset(of: ["train.loss", "train.accuracy", "test.accuracy", "test.loss", "train.samples_per_s"]), "\(names)")
        let full = try c.json("GET", "/v1/runs/\(runID)/metrics/train.loss")
        XCTAssertEqual(full.status, 200)
        let steps = (full["points"]?.array ?? []).compactMap { v -> Int? in if case .object(let o) = v { return o["step"]?.int } else { return nil } }
        XCTAssertEqual(steps, Array(stride(from: 5, through: 60, by: 5)) + [64], "every 5 steps and at the end, in order")
        let page1 = try c.json("GET", "/v1/runs/\(runID)/metrics/train.loss?limit=3")
        XCTAssertEqual(page1["points"]?.array?.count, 3)
        let next = try XCTUnwrap(page1["next_after_step"]?.int)
        let page2 = try c.json("GET", "/v1/runs/\(runID)/metrics/train.loss?after_step=\(next)&limit=1000")
        XCTAssertEqual((page1["points"]?.array?.count ?? 0) + (page2["points"]?.array?.count ?? 0), steps.count)
        XCTAssertEqual(page2["next_after_step"], .null)
        let testAcc = try c.json("GET", "/v1/runs/\(runID)/metrics/test.accuracy")
        XCTAssertEqual(testAcc["points"]?.array?.count, 2)
        XCTAssertGreaterThan(testAcc["points", "1", "value"]?.number ?? 0, 0.5, "a real network learned (chance is 0.1)")
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(runID)/metrics/nope").status, 404)
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(runID)/metrics/train.loss?limit=0").status, 400)

        // Checkpoints: every 10 steps, at the first epoch's end (step 32, scored) and the final one.
        let list = try c.json("GET", "/v1/runs/\(runID)/checkpoints")
        let cps = try XCTUnwrap(list["checkpoints"]?.array)
        XCTAssertEqual(cps.compactMap { $0["step"]?.int }, [10, 20, 30, 32, 40, 50, 60, 64])
        XCTAssertEqual(cps.compactMap { $0["score"]?.number }.count, 2, "the two epoch ends carry test accuracy")
        guard case .object(let last)? = cps.last else { return XCTFail() }
        XCTAssertEqual(last["step"]?.int, 64)
        let cid = try XCTUnwrap(last["id"]?.string)
        let sha = try XCTUnwrap(last["sha256"]?.string)
        let dl = try c.request("GET", "/v1/runs/\(runID)/checkpoints/\(cid)")
        XCTAssertEqual(dl.status, 200)
        XCTAssertEqual(dl.header("Content-Length"), String(last["size"]?.int ?? -1))
        XCTAssertEqual(dl.header("ETag"), "\"\(sha)\"")
        XCTAssertEqual(SHA256.hex(dl.body), sha)
        let file = try Safetensors.decode(dl.body)
        XCTAssertEqual(file.tensors["layers.0.weight"]?.shape, [784, 32])
        XCTAssertEqual(file.tensors["layers.1.bias"]?.shape, [10])
        XCTAssertEqual(file.metadata["run_id"], runID)
        XCTAssertEqual(file.metadata["step"], "64")

        // Conditional and partial downloads, HEAD.
        XCTAssertEqual(try c.request("GET", "/v1/runs/\(runID)/checkpoints/\(cid)", headers: [("If-None-Match", "\"\(sha)\"")]).status, 304)
        let part = try c.request("GET", "/v1/runs/\(runID)/checkpoints/\(cid)", headers: [("Range", "bytes=8-15")])
        XCTAssertEqual(part.status, 206)
        XCTAssertEqual(part.body, dl.body.subdata(in: 8..<16))
        XCTAssertEqual(part.header("Content-Range"), "bytes 8-15/\(dl.body.count)")
        let tail = try c.request("GET", "/v1/runs/\(runID)/checkpoints/\(cid)", headers: [("Range", "bytes=-4")])
        XCTAssertEqual(tail.body, dl.body.suffix(4))
        let bad = try c.request("GET", "/v1/runs/\(runID)/checkpoints/\(cid)", headers: [("Range", "bytes=\(dl.body.count)-")])
        XCTAssertEqual(bad.status, 416)
        XCTAssertEqual(bad.header("Content-Range"), "bytes */\(dl.body.count)")
        for ignored in ["items=0-3", "bytes=0-1,4-5", "bytes=x-y", "bytes=9-3"] {
            let whole = try c.request("GET", "/v1/runs/\(runID)/checkpoints/\(cid)", headers: [("Range", ignored)])
            XCTAssertEqual(whole.status, 200, "\(ignored): ignored, the whole file (RFC 9110 §14.2)")
            XCTAssertEqual(whole.body, dl.body)
        }
        let head = try c.request("HEAD", "/v1/runs/\(runID)/checkpoints/\(cid)")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Content-Length"), String(dl.body.count))
        XCTAssertTrue(head.body.isEmpty)
        XCTAssertEqual(try c.request("GET", "/v1/runs/\(runID)/checkpoints/ckpt_missing").status, 404)
        XCTAssertEqual(try c.request("GET", "/v1/runs/run_other/checkpoints/\(cid)").status, 404, "resolved by run and id together")

        // Lists.
        let byExp = try c.json("GET", "/v1/experiments/\(exp)/runs")
        XCTAssertEqual(byExp["runs"]?.array?.count, 1)
        XCTAssertEqual(try c.json("GET", "/v1/runs?state=succeeded")["runs"]?.array?.count, 1)
        XCTAssertEqual(try c.json("GET", "/v1/runs?state=queued")["runs"]?.array?.count, 0)
        XCTAssertEqual(try service.store.integrityCheck(), "ok")
    }

    func testInvalidInputGetsA4xxNamingTheFieldAndStoresNothing() throws {
        let c = try service.client()
        let exp = try createExperiment(c)
        let cases: [(String, String)] = [
            (#"{"model": {"layers": [784, 0, 10]}}"#, "model.layers[1]"),
            (#"{"model": {"layers": [784, 32, 10], "activation": "swish"}}"#, "model.activation"),
            (#"{"model": {"layers": [784, 32, 10]}, "optimizer": {"learning_rate": -1}}"#, "optimizer.learning_rate"),
            (#"{"model": {"layers": [784, 32, 10]}, "optimizer": {"batch_size": 100000}}"#, "optimizer.batch_size"),
            (#"{"model": {"layers": [784, 32, 10]}, "protocol": {"epochs": 0}}"#, "protocol.epochs"),
            (#"{"model": {"layers": [784, 32, 10]}, "data": {"train_limit": 70000}}"#, "data.train_limit"),
            (#"{"model": {"layers": [784, 32, 10]}, "checkpoint_every_steps": "often"}"#, "checkpoint_every_steps"),
            (#"{"model": {"layers": [784, 32, 10]}, "typo": 1}"#, "typo"),
            (#"{"data": {}}"#, "model"),
        ]
        for (body, field) in cases {
            let r = try c.json("POST", "/v1/experiments/\(exp)/runs", body)
            XCTAssertEqual(r.status, 400, body)
            XCTAssertEqual(r["error", "code"]?.string, "invalid_argument")
            XCTAssertEqual(r["error", "details", "field"]?.string, field, body)
            XCTAssertTrue(r["error", "message"]?.string?.contains(field) ?? false)
        }
        XCTAssertEqual(try c.json("POST", "/v1/experiments/\(exp)/runs", "{not json")["error", "code"]?.string, "invalid_json")
        XCTAssertEqual(try c.json("POST", "/v1/experiments/\(exp)/runs", "[1,2]").status, 400)
        XCTAssertEqual(try c.request("POST", "/v1/experiments/\(exp)/runs").status, 400)
        XCTAssertEqual(try c.json("POST", "/v1/experiments/exp_nope/runs", Specs.mlp()).status, 404)
        XCTAssertEqual(try c.json("POST", "/v1/experiments", #"{"name": ""}"#)["error", "details", "field"]?.string, "name")
        XCTAssertEqual(try c.json("POST", "/v1/experiments", #"{"name": 5}"#)["error", "details", "field"]?.string, "name")
        XCTAssertEqual(try c.json("POST", "/v1/experiments", #"{"name": "a", "owner": "b"}"#)["error", "details", "field"]?.string, "owner")
        XCTAssertEqual(try c.json("GET", "/v1/runs?state=done")["error", "details", "field"]?.string, "state")
        XCTAssertEqual(try c.json("GET", "/v1/runs?limit=100000")["error", "details", "field"]?.string, "limit")
        XCTAssertEqual(try c.json("GET", "/v1/runs?page_token=garbage!")["error", "details", "field"]?.string, "page_token")
        XCTAssertEqual(try c.json("GET", "/v1/runs/run_nope").status, 404)
        XCTAssertEqual(try c.json("GET", "/v1/nothing/here").status, 404)
        let wrongMethod = try c.json("DELETE", "/v1/experiments")
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.header("Allow"), "POST, GET, HEAD")
        // Nothing was stored by the failed submissions.
        XCTAssertEqual(try c.json("GET", "/v1/runs")["runs"]?.array?.count, 0)
        XCTAssertEqual(try c.json("GET", "/v1/experiments")["experiments"]?.array?.count, 1)
    }

    /// The stored spec shows what the run uses: its protocol's own fields, Adam's constants only for
    /// Adam, an activation only for MLPs; every default filled in.
    func testStoredSpecListsOnlyTheFieldsTheRunUses() throws {
        let c = try service.client()
        let exp = try createExperiment(c)
        func protocolKeys(_ body: String) throws -> [String] {
            let r = try c.json("POST", "/v1/experiments/\(exp)/runs", body)
            XCTAssertEqual(r.status, 202, r.text)
            guard case .object(let p)? = r["spec", "protocol"] else { XCTFail("no protocol in \(r.text)"); return [] }
            return p.keys.sorted()
        }
        XCTAssertEqual(try protocolKeys(Specs.mlp()), ["epochs", "kind"])
        XCTAssertEqual(try protocolKeys(#"{"protocol": {"kind": "split"}, "model": {"layers": [784, 8, 10]}}"#),
                       ["epochs_per_task", "kind", "scenario", "tasks"])
        XCTAssertEqual(try protocolKeys(#"{"protocol": {"kind": "bandit"}}"#),
                       ["arms", "change", "change_every", "drift_sd", "kind", "learner", "temperature", "trials"])
        XCTAssertEqual(try protocolKeys(#"{"protocol": {"kind": "distal_reward", "trials": 200}}"#), ["input_rate", "inputs", "kind", "trials"])
        XCTAssertEqual(try protocolKeys(#"{"protocol": {"kind": "intertemporal"}}"#),
                       ["delays", "discount", "forced_trials", "intertrial_interval", "kind", "large_reward", "small_reward", "temperature", "trace_decay", "trials"])
        func section(_ body: String, _ key: String) throws -> [String] {
            let r = try c.json("POST", "/v1/experiments/\(exp)/runs", body)
            guard case .object(let o)? = r["spec", key] else { XCTFail("no \(key) in \(r.text)"); return [] }
            return o.keys.sorted()
        }
        XCTAssertEqual(try section(Specs.mlp(), "optimizer"), ["batch_size", "kind", "learning_rate"])
        XCTAssertEqual(try section(Specs.mlp(optimizer: "adam"), "optimizer"), ["batch_size", "beta1", "beta2", "epsilon", "kind", "learning_rate"])
        XCTAssertEqual(try section(Specs.mlp(), "model"), ["activation", "kind", "layers"])
        XCTAssertEqual(try section(#"{"model": {"kind": "snn", "layers": [784, 8, 10]}}"#, "model"), ["kind", "layers", "snn"])
        let sgdBeta = try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"model": {"layers": [784, 8, 10]}, "optimizer": {"kind": "sgd", "beta1": 0.5}}"#)
        XCTAssertEqual(sgdBeta.status, 400)
        XCTAssertEqual(sgdBeta["error", "details", "field"]?.string, "optimizer.beta1")
    }

    func testCursorPagingAndIdempotencyKeys() throws {
        let c = try service.client()
        var ids: [String] = []
        for i in 0..<5 { ids.append(try createExperiment(c, name: "e\(i)")) }
        var seen: [String] = []
        var token: String?
        repeat {
            let r = try c.json("GET", "/v1/experiments?limit=2" + (token.map { "&page_token=\($0)" } ?? ""))
            XCTAssertEqual(r.status, 200)
            seen += (r["experiments"]?.array ?? []).compactMap { if case .object(let o) = $0 { return o["id"]?.string } else { return nil } }
            token = r["next_page_token"]?.string
        } while token != nil
        XCTAssertEqual(seen, ids)

        let key = [("Idempotency-Key", "submit-1")]
        let a = try c.json("POST", "/v1/experiments/\(ids[0])/runs", Specs.mlp(trainLimit: 200), headers: key)
        let b = try c.json("POST", "/v1/experiments/\(ids[0])/runs", Specs.mlp(trainLimit: 200), headers: key)
        XCTAssertEqual(a.status, 202)
        XCTAssertEqual(a["id"], b["id"])
        let conflict = try c.json("POST", "/v1/experiments/\(ids[0])/runs", Specs.mlp(trainLimit: 300), headers: key)
        XCTAssertEqual(conflict.status, 422)
        XCTAssertEqual(try c.json("GET", "/v1/runs")["runs"]?.array?.count, 1)
    }

    func testCancelQueuedAndRunningRuns() throws {
        let c = try service.client()
        let exp = try createExperiment(c)
        // A long run occupies the only worker; the second stays queued.
        let long = try c.json("POST", "/v1/experiments/\(exp)/runs", Specs.mlp(trainLimit: 60000, epochs: 50, hidden: 64, checkpointEvery: 100000, metricsEvery: 50))
        let queued = try c.json("POST", "/v1/experiments/\(exp)/runs", Specs.mlp())
        let longID = try XCTUnwrap(long["id"]?.string), queuedID = try XCTUnwrap(queued["id"]?.string)
        _ = try eventually("long run to make progress") { () -> Bool? in
            let r = try c.json("GET", "/v1/runs/\(longID)")
            return r["state"]?.string == "running" && (r["progress", "completed"]?.int ?? 0) > 0 ? true : nil
        }
        let cq = try c.json("POST", "/v1/runs/\(queuedID)/cancel")
        XCTAssertEqual(cq.status, 202)
        XCTAssertEqual(cq["state"]?.string, "canceled")
        let asked = Date()
        XCTAssertEqual(try c.json("POST", "/v1/runs/\(longID)/cancel").status, 202)
        let ended = try waitForState(c, longID, ["canceled", "succeeded", "failed"], timeout: 10)
        XCTAssertEqual(ended["state"]?.string, "canceled")
        XCTAssertLessThan(Date().timeIntervalSince(asked), 2.5, "a running run stops within a second or two")
        XCTAssertEqual(try c.json("POST", "/v1/runs/\(longID)/cancel").status, 409)
        XCTAssertEqual(try c.json("POST", "/v1/runs/run_nope/cancel").status, 404)
    }

    func testHealthReadinessAndOpenAPIDocument() throws {
        let c = try service.client()
        XCTAssertEqual(try c.json("GET", "/v1/healthz")["status"]?.string, "ok")
        let ready = try c.json("GET", "/v1/readyz")
        XCTAssertEqual(ready.status, 200)
        XCTAssertEqual(ready["checks", "workers"]?.string, "1/1 alive")
        let doc = try c.request("GET", "/v1/openapi.yaml")
        XCTAssertEqual(doc.status, 200)
        XCTAssertTrue(doc.text.hasPrefix("openapi: 3.1"))
    }

    /// Every route the server has is in openapi.yaml, and every path+method there is served.
    func testEveryRouteIsInTheOpenAPIDocumentAndViceVersa() throws {
        let text = try String(contentsOf: Paths.openAPI, encoding: .utf8)
        var documented: Set<String> = []
        var inPaths = false
        var currentPath: String?
        for line in text.components(separatedBy: "\n") {
            if line.hasPrefix("paths:") { inPaths = true; continue }
            if inPaths && !line.isEmpty && !line.hasPrefix(" ") { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") { currentPath = String(line.dropFirst(2).dropLast()); continue }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("    "), !line.hasPrefix("     "), let p = currentPath,
               ["get:", "post:", "put:", "delete:", "patch:", "head:"].contains(trimmed) {
                documented.insert("\(trimmed.dropLast().uppercased()) \(p)")
            }
        }
        let served = Set(service.api.router.routes.map { "\($0.method) \($0.template)" })
        XCTAssertEqual(served.subtracting(documented), [], "routes missing from openapi.yaml")
        XCTAssertEqual(documented.subtracting(served), [], "documented operations the server lacks")
        XCTAssertGreaterThan(served.count, 10)
    }

    func testQueueCapAnswers429WithRetryAfter() throws {
        service.stop()
        service = try ServiceHarness(workers: 1, options: { $0.maxQueuedRuns = 1 })
        service.workers.shutdown(timeout: 5)   // nothing leaves the queue
        let c = try service.client()
        let exp = try createExperiment(c)
        XCTAssertEqual(try c.json("POST", "/v1/experiments/\(exp)/runs", Specs.mlp()).status, 202)
        let full = try c.json("POST", "/v1/experiments/\(exp)/runs", Specs.mlp())
        XCTAssertEqual(full.status, 429)
        XCTAssertEqual(full.header("Retry-After"), "30")
        XCTAssertEqual(full["error", "code"]?.string, "queue_full")
        let notReady = try c.json("GET", "/v1/readyz")
        XCTAssertEqual(notReady.status, 503, "stopped workers make the service not ready")
    }

    func testMissingDatasetFailsTheRunWithAClearReason() throws {
        service.stop()
        service = try ServiceHarness(workers: 1, datasetDir: "/nonexistent/fashion-mnist")
        let c = try service.client()
        let exp = try createExperiment(c)
        let runID = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", Specs.mlp())["id"]?.string)
        let r = try waitForState(c, runID, ["failed", "succeeded"], timeout: 20)
        XCTAssertEqual(r["state"]?.string, "failed")
        let reason = r["failure_reason"]?.string ?? ""
        XCTAssertTrue(reason.contains("dataset-fashion-mnist") && reason.contains("/nonexistent"), reason)
        XCTAssertEqual(try c.json("GET", "/v1/healthz").status, 200, "the service keeps answering")
    }
}

/// The neuromodulation engine through the public API: task sequences and reward tasks.
final class ExperimentProtocolTests: XCTestCase {
    var service: ServiceHarness!
    override func setUpWithError() throws { service = try ServiceHarness(workers: 1) }
    override func tearDown() { service.stop() }

    func submitAndWait(_ c: APIClient, _ spec: String) throws -> String {
        let id = try c.submitRun(spec, experiment: "p")
        let done = try c.waitForRunEnd(id, timeout: 90)
        XCTAssertEqual(done["state"]?.string, "succeeded", done.text)
        XCTAssertEqual(done["progress", "completed"]?.int, done["progress", "total"]?.int)
        return id
    }

    func testSplitRunServesItsAccuracyMatrixAndModulatorTraces() throws {
        let c = try service.client()
        let id = try submitAndWait(c, """
            {"seed": 2, "data": {"train_limit": 3000, "test_limit": 500}, "protocol": {"kind": "split", "scenario": "task-incremental"},
             "model": {"layers": [784, 32, 10]}, "consolidation": {"kind": "online_ewc"}, "metrics_every_steps": 5, "checkpoint_every_steps": 20,
             "neuromodulation": {"noradrenaline": {"signal": "surprise", "targets": {"learning_rate": 0.3}},
                                 "serotonin": {"targets": {"consolidation": 1}}, "context": {"gating_keep": 0.5}}}
            """)
        let s = try c.json("GET", "/v1/runs/\(id)/summary")
        XCTAssertEqual(s.status, 200, s.text)
        XCTAssertEqual(s["final"], .bool(true))
        XCTAssertEqual(s["summary", "accuracy_matrix"]?.array?.count, 5)
        XCTAssertEqual(s["summary", "complete"], .bool(true))
        XCTAssertNotNil(s["summary", "backward_transfer"]?.number)
        XCTAssertNotNil(s["summary", "forward_transfer"]?.number)
        XCTAssertGreaterThan(s["summary", "average_accuracy"]?.number ?? 0, 0.7)
        XCTAssertNotNil(s["summary", "neuromodulators", "noradrenaline.surprise"]?.number)
        let keys = try c.json("GET", "/v1/runs/\(id)/metrics")["metrics"]?.array?.compactMap { v -> String? in
            if case .object(let o) = v { return o["key"]?.string } else { return nil } } ?? []
        for k in ["task.0.accuracy", "task.4.accuracy", "continual.average_accuracy", "consolidation.penalty",
                  "nm.noradrenaline.surprise", "nm.serotonin.stability", "nm.effect.learning_rate", "nm.effect.consolidation"] {
            XCTAssertTrue(keys.contains(k), "\(k) in \(keys)")
        }
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(id)/metrics/task.0.accuracy")["points"]?.array?.count, 5)
    }

    func testSpikingRunThroughTheAPI() throws {
        let c = try service.client()
        let id = try submitAndWait(c, """
            {"seed": 1, "data": {"train_limit": 640, "test_limit": 200}, "model": {"kind": "snn", "layers": [784, 32, 10],
             "snn": {"steps": 8, "heterogeneous_init": true, "train_neuron_parameters": true, "readout": "mean"}},
             "metrics_every_steps": 2, "checkpoint_every_steps": 3}
            """)
        let s = try c.json("GET", "/v1/runs/\(id)/summary")
        XCTAssertEqual(s["summary", "model"]?.string, "snn")
        XCTAssertNotNil(s["summary", "time_constants", "0", "median"]?.number)
        XCTAssertNotNil(s["summary", "synops_per_sample"]?.number)
        XCTAssertGreaterThan(s["summary", "test_accuracy"]?.number ?? 0, 0.2)
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(id)/metrics/snn.spikes_per_sample.layer0").status, 200)
        let cps = try c.json("GET", "/v1/runs/\(id)/checkpoints")["checkpoints"]?.array ?? []
        XCTAssertEqual(cps.count, 2, "at step 3 and at the end (5 steps)")
        let bad = try c.json("POST", "/v1/experiments", #"{"name": "x"}"#)
        let exp = try XCTUnwrap(bad["id"]?.string)
        let invalid = try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"model": {"kind": "snn", "layers": [784, 10], "snn": {}}}"#)
        XCTAssertEqual(invalid["error", "details", "field"]?.string, "model.layers")
        let invalid2 = try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"model": {"kind": "snn", "layers": [784, 16, 10], "snn": {"tau_mem": -1}}}"#)
        XCTAssertEqual(invalid2["error", "details", "field"]?.string, "model.snn.tau_mem")
        // Too large a batch to simulate at once: a 400 naming the field, and no run queued.
        let huge = try c.json("POST", "/v1/experiments/\(exp)/runs",
                              #"{"model": {"kind": "snn", "layers": [784, 256, 10], "snn": {"steps": 500}}, "optimizer": {"batch_size": 4096}}"#)
        XCTAssertEqual(huge.status, 400, huge.text)
        XCTAssertEqual(huge["error", "details", "field"]?.string, "model.snn.steps")
        XCTAssertEqual(try c.json("GET", "/v1/experiments/\(exp)/runs")["runs"]?.array?.count, 0)
    }

    func testDistalRewardExampleThroughTheAPI() throws {
        let c = try service.client()
        let spec = try String(contentsOf: Paths.repoRoot.appendingPathComponent("examples/rstdp-distal-reward.json"), encoding: .utf8)
        let id = try submitAndWait(c, spec)
        let s = try c.json("GET", "/v1/runs/\(id)/summary")
        XCTAssertEqual(s["summary", "causal_weight_rank"]?.int, 1, s.text)
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(id)/metrics/rstdp.causal_weight")["points"]?.array?.count, 120)
    }

    func testRewardRunsServeTheirMeasures() throws {
        let c = try service.client()
        let bandit = try submitAndWait(c, #"{"protocol": {"kind": "bandit", "arms": 4, "trials": 1000, "change_every": 250}, "neuromodulation": {"dopamine": {"targets": {"learning_rate": 0.5}}}, "checkpoint_every_steps": 300}"#)
        let b = try c.json("GET", "/v1/runs/\(bandit)/summary")
        XCTAssertNotNil(b["summary", "cumulative_regret"]?.number)
        XCTAssertEqual(b["summary", "changes"]?.int, 3)
        XCTAssertNotNil(b["summary", "trials_to_criterion", "values"]?.array)
        let reversal = try submitAndWait(c, #"{"protocol": {"kind": "reversal", "trials": 800, "reverse_every": 200}, "model": {"layers": [4, 8, 2]}, "checkpoint_every_steps": 300}"#)
        let r = try c.json("GET", "/v1/runs/\(reversal)/summary")
        XCTAssertNotNil(r["summary", "correct_rate"]?.number)
        XCTAssertNotNil(r["summary", "perseverative_errors", "total"]?.number)
        let cps = try c.json("GET", "/v1/runs/\(reversal)/checkpoints")["checkpoints"]?.array ?? []
        XCTAssertEqual(cps.count, 3, "every 300 trials and at the end")
        let example = try String(contentsOf: Paths.repoRoot.appendingPathComponent("examples/intertemporal-serotonin.json"), encoding: .utf8)
        let patient = try submitAndWait(c, example)
        let p = try c.json("GET", "/v1/runs/\(patient)/summary")
        XCTAssertEqual(p["summary", "discount"]?.number ?? 0, 1 - 0.5 * exp(-1.5), accuracy: 1e-3, p.text)
        XCTAssertNotNil(p["summary", "later_choice_by_delay", "16"]?.number)
        XCTAssertNotNil(p["summary", "reward_rate_optimum", "reward_per_step"]?.number)
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(patient)/metrics/choice.later_rate")["points"]?.array?.count, 40)
        XCTAssertNil(try c.json("GET", "/v1/runs/\(patient)")["spec", "model"], "no model section: a value table")
        XCTAssertEqual(try c.json("GET", "/v1/runs/run_nope/summary").status, 404)
    }
}
