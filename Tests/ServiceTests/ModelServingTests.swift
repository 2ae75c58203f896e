import Support
import XCTest
import Engine
import Storage

/// The model registry and /predict, end to end: train, register, alias, predict, compare with
/// a forward pass computed here from the downloaded safetensors file.
final class ModelServingTests: XCTestCase {
    var service: ServiceHarness!
    override func setUpWithError() throws { service = try ServiceHarness(workers: 1) }
    override func tearDown() { service.stop() }

    func trainedRun(_ c: APIClient, hidden: Int = 32, extra: String = "") throws -> String {
        try trainServableRun(c, hidden: hidden, extra: extra)
    }


    func testRegisterAliasAndPredictLikeAForwardPassOfTheCheckpoint() throws {
        let c = try service.client()
        let run = try trainedRun(c)
        let v1 = try c.json("POST", "/v1/models", #"{"name": "fmnist", "run_id": "\#(run)"}"#)
        XCTAssertEqual(v1.status, 201, v1.text)
        XCTAssertEqual(v1["version"]?.int, 1)
        let first = try XCTUnwrap(try c.json("GET", "/v1/runs/\(run)/checkpoints")["checkpoints", "0", "id"]?.string)
        let v2 = try c.json("POST", "/v1/models", #"{"name": "fmnist", "run_id": "\#(run)", "checkpoint_id": "\#(first)"}"#)
        XCTAssertEqual(v2["version"]?.int, 2)
        let model = try c.json("GET", "/v1/models/fmnist")
        XCTAssertEqual(model["versions"]?.array?.count, 2)
        XCTAssertEqual(model["input_shape", "1"]?.int, 784)
        XCTAssertEqual(model["output_labels", "9"]?.string, "Ankle boot")
        XCTAssertNotNil(model["latest_run", "summary", "test_accuracy"]?.number)
        XCTAssertEqual(try c.json("GET", "/v1/models")["models", "0", "latest_version"]?.int, 2)

        // Aliases move; an aliased version cannot be deleted.
        XCTAssertEqual(try c.json("PUT", "/v1/models/fmnist/aliases/production", #"{"version": 1}"#).status, 200)
        XCTAssertEqual(try c.json("DELETE", "/v1/models/fmnist/versions/1").status, 409)

        // Predict the first test images with the production alias (version 1 = the final checkpoint).
        let (_, test) = try DatasetLibrary(directory: Paths.datasetDir).load("fashion-mnist")
        let n = 5
        let inputs = (0..<n).map { r in (0..<784).map { Double(test.inputs.pointer[r * 784 + $0]) } }
        let body = JSONValue.object(["inputs": .array(inputs.map { .array($0.map { .number($0) }) })]).serialized()
        let p = try c.request("POST", "/v1/models/fmnist/predict?alias=production", body: body)
        XCTAssertEqual(p.status, 200, p.text)
        XCTAssertEqual(p["version"]?.int, 1)
        let predictions = try XCTUnwrap(p["predictions"]?.array)
        XCTAssertEqual(predictions.count, n)

        // The same forward pass, computed here from the checkpoint file the service serves.
        let final = try XCTUnwrap(try c.json("GET", "/v1/runs/\(run)/checkpoints")["checkpoints"]?.array?.last)
        guard case .object(let cp) = final, let cid = cp["id"]?.string else { return XCTFail() }
        let file = try Safetensors.decode(try c.request("GET", "/v1/runs/\(run)/checkpoints/\(cid)").body)
        let w0 = file.tensors["layers.0.weight"]!.values, b0 = file.tensors["layers.0.bias"]!.values
        let w1 = file.tensors["layers.1.weight"]!.values, b1 = file.tensors["layers.1.bias"]!.values
        for r in 0..<n {
            var h = [Double](repeating: 0, count: 32)
            for j in 0..<32 {
                var s = Double(b0[j])
                for i in 0..<784 { s += inputs[r][i] * Double(w0[i * 32 + j]) }
                h[j] = max(0, s)
            }
            var z = (0..<10).map { k in (0..<32).reduce(Double(b1[k])) { $0 + h[$1] * Double(w1[$1 * 10 + k]) } }
            let m = z.max()!
            z = z.map { exp($0 - m) }
            let sum = z.reduce(0, +)
            guard case .object(let pr) = predictions[r], let probs = pr["probabilities"]?.array?.compactMap(\.number) else { return XCTFail() }
            for k in 0..<10 { XCTAssertEqual(probs[k], z[k] / sum, accuracy: 1e-5) }
            XCTAssertEqual(pr["class"]?.int, probs.indices.max { probs[$0] < probs[$1] })
        }
        XCTAssertEqual(try c.json("POST", "/v1/models/fmnist/predict?version=2", String(decoding: body, as: UTF8.self))["version"]?.int, 2)
        XCTAssertEqual(try c.json("DELETE", "/v1/models/fmnist/aliases/production").status, 204)
        XCTAssertEqual(try c.json("DELETE", "/v1/models/fmnist/versions/1").status, 204)
        XCTAssertEqual(try c.json("POST", "/v1/models/fmnist/predict?version=1", String(decoding: body, as: UTF8.self)).status, 404)
    }

    /// Every epoch end is checkpointed with its test accuracy as score; registering without a
    /// checkpoint_id picks the best-scoring one, not the latest.
    func testRegistrationDefaultsToTheBestCheckpointByScore() throws {
        let c = try service.client()
        let run = try trainedRun(c, hidden: 16, extra: #", "protocol": {"epochs": 4}, "optimizer": {"learning_rate": 0.5}"#)
        let list = try XCTUnwrap(try c.json("GET", "/v1/runs/\(run)/checkpoints?limit=200")["checkpoints"]?.array)
        var scored: [(id: String, step: Int, score: Double)] = []
        for case .object(let cp) in list {
            if let score = cp["score"]?.number {
                XCTAssertEqual(cp["score_metric"]?.string, "test.accuracy")
                scored.append((cp["id"]!.string!, cp["step"]!.int!, score))
            } else {
                XCTAssertEqual(cp["score_metric"], .null)
            }
        }
        let accuracy = try XCTUnwrap(try c.json("GET", "/v1/runs/\(run)/metrics/test.accuracy")["points"]?.array)
        let epochEnds = accuracy.compactMap { $0["step"]?.int }
        XCTAssertEqual(epochEnds.count, 4)
        XCTAssertEqual(scored.map(\.step), epochEnds, "one scored checkpoint per epoch end")
        XCTAssertEqual(scored.map(\.score), accuracy.compactMap { $0["value"]?.number })
        let best = scored.max { $0.score < $1.score || ($0.score == $1.score && $0.step < $1.step) }!
        let v = try c.json("POST", "/v1/models", #"{"name": "best", "run_id": "\#(run)"}"#)
        XCTAssertEqual(v.status, 201, v.text)
        XCTAssertEqual(v["checkpoint_id"]?.string, best.id, "scores \(scored.map(\.score))")
    }

    func testBadPredictionsAndRegistrationsGetClearErrors() throws {
        var c = try service.client()
        let run = try trainedRun(c, hidden: 8)
        XCTAssertEqual(try c.json("POST", "/v1/models", #"{"name": "m", "run_id": "\#(run)"}"#).status, 201)
        let zeros = "[" + Array(repeating: "0", count: 784).joined(separator: ",") + "]"
        func field(_ body: String, query: String = "") throws -> String? {
            let r = try c.json("POST", "/v1/models/m/predict" + query, body)
            XCTAssertEqual(r.status, 400, body.prefix(80) + " " + r.text)
            return r["error", "details", "field"]?.string
        }
        XCTAssertEqual(try field(#"{"inputs": []}"#), "inputs")
        XCTAssertEqual(try field(#"{"inputs": [[1, 2, 3]]}"#), "inputs")
        XCTAssertEqual(try field(#"{"inputs": [[1, "a"]]}"#), "inputs[0][1]")
        XCTAssertEqual(try field(#"{"inputs": [5]}"#), "inputs[0]")
        XCTAssertEqual(try field(#"{"input": [\#(zeros)]}"#), "input")
        XCTAssertEqual(try field(#"{"inputs": [\#(zeros)]}"#, query: "?version=zero"), "version")
        XCTAssertEqual(try field(#"{"inputs": [\#(zeros)]}"#, query: "?version=1&alias=x"), "alias")
        let big = #"{"inputs": ["# + Array(repeating: zeros, count: 1025).joined(separator: ",") + "]}"
        let huge = try c.json("POST", "/v1/models/m/predict", big)
        XCTAssertTrue([400, 413].contains(huge.status), "oversize batch: \(huge.status)")
        c = try service.client()   // a 413 closes the connection
        XCTAssertEqual(try c.json("POST", "/v1/models/nope/predict", #"{"inputs": [\#(zeros)]}"#).status, 404)
        XCTAssertEqual(try c.json("POST", "/v1/models/m/predict?alias=missing", #"{"inputs": [\#(zeros)]}"#).status, 404)
        XCTAssertEqual(try c.json("POST", "/v1/models", #"{"name": "bad name!", "run_id": "\#(run)"}"#)["error", "details", "field"]?.string, "name")
        XCTAssertEqual(try c.json("POST", "/v1/models", #"{"name": "m"}"#)["error", "details", "field"]?.string, "run_id")
        XCTAssertEqual(try c.json("POST", "/v1/models", #"{"name": "m", "run_id": "run_nope"}"#).status, 404)
        XCTAssertEqual(try c.json("GET", "/v1/models/nope").status, 404)
        XCTAssertEqual(try c.json("PUT", "/v1/models/m/aliases/prod", #"{"version": 7}"#).status, 404)
        // Found by Schemathesis: a version beyond Int's range trapped the server; now a 400.
        let hugeVersion = try c.json("PUT", "/v1/models/m/aliases/prod", #"{"version": 181953982823300182069739520}"#)
        XCTAssertEqual(hugeVersion.status, 400)
        XCTAssertEqual(hugeVersion["error", "details", "field"]?.string, "version")
        // A bandit's action values are not a servable network: refused at registration.
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "bandit"}"#)["id"]?.string)
        let bandit = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"protocol": {"kind": "bandit", "trials": 50}}"#)["id"]?.string)
        _ = try eventually(timeout: 60, "bandit run") { () -> Bool? in try c.json("GET", "/v1/runs/\(bandit)")["state"]?.string == "succeeded" ? true : nil }
        let refused = try c.json("POST", "/v1/models", #"{"name": "b", "run_id": "\#(bandit)"}"#)
        XCTAssertEqual(refused.status, 422, refused.text)
        XCTAssertEqual(refused["error", "code"]?.string, "unsupported_model")
    }

    /// A spiking network, feed-forward or recurrent, is served like an MLP: its predictions are
    /// deterministic per image, independent of what shares the batch, and better than chance.
    func testSpikingNetworksAreServed() throws {
        try checkSpikingServing(name: "snn", snn: #"{"steps": 10}"#)
    }

    func testRecurrentSpikingNetworksAreServed() throws {
        try checkSpikingServing(name: "rsnn", snn: #"{"steps": 10, "recurrent": true}"#)
    }

    func checkSpikingServing(name: String, snn: String) throws {
        let c = try service.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "snn"}"#)["id"]?.string)
        let spec = #"{"seed": 2, "data": {"train_limit": 2000, "test_limit": 100}, "model": {"kind": "snn", "layers": [784, 64, 10], "snn": \#(snn)}, "optimizer": {"batch_size": 64}}"#
        let run = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", spec)["id"]?.string)
        _ = try eventually(timeout: 120, "snn run") { () -> Bool? in try c.json("GET", "/v1/runs/\(run)")["state"]?.string == "succeeded" ? true : nil }
        let v = try c.json("POST", "/v1/models", #"{"name": "\#(name)", "run_id": "\#(run)"}"#)
        XCTAssertEqual(v.status, 201, v.text)
        XCTAssertEqual(try c.json("GET", "/v1/models/\(name)")["model_kind"]?.string, "snn")
        let (_, test) = try DatasetLibrary(directory: Paths.datasetDir).load("fashion-mnist")
        let n = 60
        let rows = (0..<n).map { r in JSONValue.array((0..<784).map { .number(Double(test.inputs.pointer[r * 784 + $0])) }) }
        func predict(_ rows: [JSONValue]) throws -> [[Double]] {
            let p = try c.request("POST", "/v1/models/\(name)/predict", body: JSONValue.object(["inputs": .array(rows)]).serialized())
            XCTAssertEqual(p.status, 200, p.text)
            return (p["predictions"]?.array ?? []).map { $0["probabilities"]?.array?.compactMap(\.number) ?? [] }
        }
        let all = try predict(rows)
        XCTAssertEqual(all.count, n)
        XCTAssertEqual(try predict(rows), all, "the same images get the same spikes and answers")
        for r in [0, 7, 59] { XCTAssertEqual(try predict([rows[r]])[0], all[r], "image \(r) alone = in a batch") }
        for p in all { XCTAssertEqual(p.reduce(0, +), 1, accuracy: 1e-4) }
        let correct = (0..<n).filter { r in all[r].indices.max { all[r][$0] < all[r][$1] } == Int(test.labels[r]) }.count
        XCTAssertGreaterThan(correct, n / 4, "served spiking network beats chance (10%): \(correct)/\(n)")
    }

    /// A permuted-protocol model takes an optional task: the task's pixel permutation is applied
    /// to the inputs, as in training (task 0 and no task: pixels as given).
    func testPermutedModelsTakeATask() throws {
        let c = try service.client()
        let run = try c.submitRun(#"{"seed": 3, "data": {"train_limit": 640, "test_limit": 100}, "protocol": {"kind": "permuted", "tasks": 3}, "model": {"layers": [784, 16, 10]}}"#)
        XCTAssertEqual(try c.waitForRunEnd(run)["state"]?.string, "succeeded")
        XCTAssertEqual(try c.json("POST", "/v1/models", #"{"name": "perm", "run_id": "\#(run)"}"#).status, 201)
        let model = try c.json("GET", "/v1/models/perm")
        XCTAssertEqual(model["tasks"]?.int, 3)
        XCTAssertEqual(model["requires_task"], .bool(false))
        let (_, test) = try DatasetLibrary(directory: Paths.datasetDir).load("fashion-mnist")
        let row = "[" + (0..<784).map { String(test.inputs.pointer[$0]) }.joined(separator: ",") + "]"
        func probabilities(_ task: String) throws -> [Double] {
            let r = try c.json("POST", "/v1/models/perm/predict", #"{"inputs": [\#(row)]\#(task)}"#)
            XCTAssertEqual(r.status, 200, r.text)
            return r["predictions", "0", "probabilities"]?.array?.compactMap(\.number) ?? []
        }
        XCTAssertEqual(try probabilities(""), try probabilities(#", "task": 0"#))
        XCTAssertNotEqual(try probabilities(#", "task": 2"#), try probabilities(""), "task 2 permutes the pixels")
        let bad = try c.json("POST", "/v1/models/perm/predict", #"{"inputs": [\#(row)], "task": 3}"#)
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(bad["error", "details", "field"]?.string, "task")
    }

    /// A context-gated (task-incremental) model needs the task: it selects the units of that task
    /// and the task's two output classes.
    func testContextGatedModelsTakeATask() throws {
        let c = try service.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "gated"}"#)["id"]?.string)
        let spec = #"{"seed": 2, "data": {"train_limit": 3000, "test_limit": 200}, "model": {"layers": [784, 64, 10]}, "protocol": {"kind": "split", "tasks": 5, "scenario": "task-incremental"}, "neuromodulation": {"context": {"gating_keep": 0.5}}}"#
        let run = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", spec)["id"]?.string)
        _ = try eventually(timeout: 120, "gated run") { () -> Bool? in try c.json("GET", "/v1/runs/\(run)")["state"]?.string == "succeeded" ? true : nil }
        XCTAssertEqual(try c.json("POST", "/v1/models", #"{"name": "g", "run_id": "\#(run)"}"#).status, 201)
        let model = try c.json("GET", "/v1/models/g")
        XCTAssertEqual(model["tasks"]?.int, 5)
        XCTAssertEqual(model["requires_task"], .bool(true))
        let zeros = "[" + Array(repeating: "0.5", count: 784).joined(separator: ",") + "]"
        let missing = try c.json("POST", "/v1/models/g/predict", #"{"inputs": [\#(zeros)]}"#)
        XCTAssertEqual(missing.status, 400)
        XCTAssertEqual(missing["error", "details", "field"]?.string, "task")
        XCTAssertEqual(try c.json("POST", "/v1/models/g/predict", #"{"inputs": [\#(zeros)], "task": 5}"#)["error", "details", "field"]?.string, "task")
        var seen: [[Double]] = []
        for task in 0..<5 {
            let p = try c.json("POST", "/v1/models/g/predict", #"{"inputs": [\#(zeros)], "task": \#(task)}"#)
            XCTAssertEqual(p.status, 200, p.text)
            let probs = try XCTUnwrap(p["predictions", "0", "probabilities"]?.array?.compactMap(\.number))
            for k in 0..<10 where k / 2 != task { XCTAssertEqual(probs[k], 0, "task \(task) competes over its own classes only") }
            XCTAssertEqual(probs[2 * task] + probs[2 * task + 1], 1, accuracy: 1e-5)
            seen.append(probs)
        }
        let v2 = try c.json("POST", "/v2/models/g/infer", #"{"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": \#(zeros)}], "parameters": {"task": 3}}"#)
        XCTAssertEqual(v2.status, 200, v2.text)
        XCTAssertEqual(v2["outputs", "0", "data"]?.array?.compactMap(\.number).map { Float($0) }, seen[3].map { Float($0) })
    }

    /// The v2 open inference protocol, as a KServe/Triton client speaks it.
    func testOpenInferenceProtocolV2() throws {
        let c = try service.client()
        let run = try trainedRun(c, hidden: 16)
        XCTAssertEqual(try c.json("POST", "/v1/models", #"{"name": "fm", "run_id": "\#(run)"}"#).status, 201)
        XCTAssertEqual(try c.json("GET", "/v2/health/live")["live"], .bool(true))
        XCTAssertEqual(try c.json("GET", "/v2/health/ready")["ready"], .bool(true))
        let meta = try c.json("GET", "/v2/models/fm")
        XCTAssertEqual(meta["inputs", "0", "shape", "1"]?.int, 784)
        XCTAssertEqual(meta["outputs", "0", "shape", "1"]?.int, 10)
        XCTAssertEqual(meta["versions", "0"]?.string, "1")
        XCTAssertEqual(try c.json("GET", "/v2/models/fm/ready")["ready"], .bool(true))
        XCTAssertEqual(try c.json("GET", "/v2/models/fm/versions/1/ready")["ready"], .bool(true))
        let (_, test) = try DatasetLibrary(directory: Paths.datasetDir).load("fashion-mnist")
        let pixels = (0..<(2 * 784)).map { JSONValue.number(Double(test.inputs.pointer[$0])) }
        let body = JSONValue.object(["id": .string("req-1"), "inputs": .array([.object([
            "name": .string("input"), "shape": .array([.number(2), .number(784)]), "datatype": .string("FP32"), "data": .array(pixels)])])])
        let r = try c.request("POST", "/v2/models/fm/infer", body: body.serialized())
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r["id"]?.string, "req-1")
        XCTAssertEqual(r["model_name"]?.string, "fm")
        XCTAssertEqual(r["model_version"]?.string, "1")
        XCTAssertEqual(r["outputs", "0", "name"]?.string, "probabilities")
        XCTAssertEqual(r["outputs", "0", "datatype"]?.string, "FP32")
        XCTAssertEqual(r["outputs", "0", "shape", "1"]?.int, 10)
        XCTAssertEqual(r["parameters", "prediction_ids"]?.array?.compactMap(\.string).count, 2)
        // The answer is written directly: an id that needs escapes comes back intact.
        let oddID = "q\"uo\\te\n✓"
        var oddBody = body
        if case .object(var o) = body { o["id"] = .string(oddID); oddBody = .object(o) }
        XCTAssertEqual(try c.request("POST", "/v2/models/fm/infer", body: oddBody.serialized())["id"]?.string, oddID)
        XCTAssertEqual(r["outputs", "0", "shape", "0"]?.int, 2)
        let probs = try XCTUnwrap(r["outputs", "0", "data"]?.array?.compactMap(\.number))
        XCTAssertEqual(probs.count, 20)
        XCTAssertEqual(probs[0..<10].reduce(0, +), 1, accuracy: 1e-4)
        // The same inputs through /v1 predict give the same numbers.
        let v1 = try c.request("POST", "/v1/models/fm/predict", body: JSONValue.object(["inputs": .array([
            .array(Array(pixels[0..<784])), .array(Array(pixels[784..<1568]))])]).serialized())
        let v1probs = (v1["predictions", "1", "probabilities"]?.array ?? []).compactMap(\.number)
        for k in 0..<10 { XCTAssertEqual(v1probs[k], probs[10 + k], accuracy: 1e-6) }
        // The binary tensor data extension (what Triton's client sends): JSON header, then raw FP32.
        let header = Data(#"{"inputs": [{"name": "input", "shape": [2, 784], "datatype": "FP32", "parameters": {"binary_data_size": 6272}}], "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}]}"#.utf8)
        var raw = header
        for i in 0..<(2 * 784) { withUnsafeBytes(of: test.inputs.pointer[i].bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
        let binary = try c.request("POST", "/v2/models/fm/infer", headers: [("Inference-Header-Content-Length", String(header.count))], body: raw)
        XCTAssertEqual(binary.status, 200, binary.text)
        let outHeaderLength = try XCTUnwrap(Int(binary.header("Inference-Header-Content-Length") ?? ""))
        let outHeader = try XCTUnwrap(JSONValue.parse(binary.body.prefix(outHeaderLength)))
        guard case .object(let oh) = outHeader, case .array(let outs)? = oh["outputs"], case .object(let o0) = outs[0] else { return XCTFail() }
        XCTAssertEqual(o0["parameters"]?["binary_data_size"]?.int, 80)
        let tail = binary.body.dropFirst(outHeaderLength)
        XCTAssertEqual(tail.count, 80)
        let binaryProbs = tail.withUnsafeBytes { b in (0..<20).map { Double(Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))) } }
        for k in 0..<20 { XCTAssertEqual(binaryProbs[k], probs[k], accuracy: 1e-6, "binary in, binary out = JSON in, JSON out") }
        let short = try c.request("POST", "/v2/models/fm/infer", headers: [("Inference-Header-Content-Length", String(header.count))], body: raw.dropLast(4))
        XCTAssertEqual(short.status, 400)
        XCTAssertNotNil(short["error"]?.string)
        let lying = try c.request("POST", "/v2/models/fm/infer", headers: [("Inference-Header-Content-Length", "999999")], body: raw)
        XCTAssertEqual(lying.status, 400)
        // Errors in the v2 shape.
        let bad = try c.json("POST", "/v2/models/fm/infer", #"{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}"#)
        XCTAssertEqual(bad.status, 400)
        XCTAssertNotNil(bad["error"]?.string)
        XCTAssertEqual(try c.json("POST", "/v2/models/fm/infer", #"{"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": [1]}]}"#).status, 400)
        XCTAssertEqual(try c.json("POST", "/v2/models/fm/infer", #"{"inputs": [{"name": "input", "shape": [1, 784], "datatype": "BYTES", "data": []}]}"#).status, 400)
        let missing = try c.json("GET", "/v2/models/nope")
        XCTAssertEqual(missing.status, 404)
        XCTAssertNotNil(missing["error"]?.string)
        XCTAssertEqual(try c.json("GET", "/v2/models/fm/versions/9/ready").status, 404)
    }
}

/// Trains a small MLP (1,500 Fashion-MNIST images) through the API and waits for it to succeed;
/// returns the run id.
func trainServableRun(_ c: APIClient, hidden: Int = 32, extra: String = "") throws -> String {
    let spec = #"{"seed": 5, "data": {"train_limit": 1500, "test_limit": 200}, "model": {"layers": [784, \#(hidden), 10]}, "checkpoint_every_steps": 10 \#(extra)}"#
    let id = try c.submitRun(spec, experiment: "serve")
    XCTAssertEqual(try c.waitForRunEnd(id, timeout: 60)["state"]?.string, "succeeded")
    return id
}
