import Foundation
import Support
import XCTest
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// Served models that keep learning (issue 17), end to end through the API: prediction ids,
/// feedback, adaptation policies, snapshots as versions, rollback, the canary floor, the rate
/// limit, concurrent predictions against feedback, and SIGKILL during adaptation.
final class AdaptationTests: XCTestCase {
    var service: ServiceHarness!
    override func tearDown() { service?.stop() }

    static let test = try! DatasetLibrary(directory: Paths.datasetDir).load("fashion-mnist").1

    static func image(_ i: Int) -> [Double] { (0..<784).map { Double(test.inputs.pointer[i * 784 + $0]) } }
    static func label(_ i: Int) -> Int { Int(test.labels[i]) }

    static func predictBody(_ rows: [[Double]]) -> String {
        String(decoding: JSONValue.object(["inputs": .array(rows.map { .array($0.map { .number($0) }) })]).serialized(), as: UTF8.self)
    }

    /// A trained run registered as model `fm` version 1, with alias `prod` on it.
    func registeredModel(_ c: APIClient) throws -> String {
        let run = try trainServableRun(c, hidden: 32)
        XCTAssertEqual(try c.json("POST", "/v1/models", #"{"name": "fm", "run_id": "\#(run)"}"#).status, 201)
        XCTAssertEqual(try c.json("PUT", "/v1/models/fm/aliases/prod", #"{"version": 1}"#).status, 200)
        return run
    }

    func probabilities(_ r: TestResponse, _ row: Int = 0) -> [Double] {
        r["predictions", String(row), "probabilities"]?.array?.compactMap(\.number) ?? []
    }

    func testFeedbackAdaptsAnAliasWhoseSnapshotsBecomeVersionsAndRollBack() throws {
        service = try ServiceHarness(workers: 1)
        let c = try service.client()
        let run = try registeredModel(c)
        let ownCheckpoints = try c.json("GET", "/v1/runs/\(run)/checkpoints")["checkpoints"]?.array?.count

        // Every prediction has an id; feedback on one made without adaptation is counted, not applied.
        let x = Self.image(0)
        let plain = try c.json("POST", "/v1/models/fm/predict", Self.predictBody([x, Self.image(1)]))
        XCTAssertEqual(plain.status, 200, plain.text)
        let id0 = try XCTUnwrap(plain["predictions", "0", "prediction_id"]?.string)
        XCTAssertNotEqual(id0, plain["predictions", "1", "prediction_id"]?.string)
        let f0 = try c.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(id0)", "label": 3}"#)
        XCTAssertEqual(f0.status, 200, f0.text)
        XCTAssertEqual(f0["applied"], .bool(false))
        XCTAssertEqual(try c.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(id0)", "label": 3}"#).status, 409, "once per prediction")

        // Bad feedback and bad policies: a 4xx naming the field.
        for (body, status, field) in [
            (#"{"prediction_id": "pr_0_1", "label": 1}"#, 404, nil),
            (#"{"label": 1}"#, 400, "prediction_id"),
            (#"{"prediction_id": "x", "label": 1, "reward": 1}"#, 400, "label"),
            (#"{"prediction_id": "x", "reward": 2}"#, 400, "reward"),
            (#"{"prediction_id": "x", "label": -1}"#, 400, "label"),
            (#"{"prediction_id": "x", "label": 1, "extra": 1}"#, 400, "extra"),
        ] as [(String, Int, String?)] {
            let r = try c.json("POST", "/v1/models/fm/feedback", body)
            XCTAssertEqual(r.status, status, body + " → " + r.text)
            if let field { XCTAssertEqual(r["error", "details", "field"]?.string, field, body) }
        }
        XCTAssertEqual(try c.json("POST", "/v1/models/nope/feedback", #"{"prediction_id": "\#(id0)", "label": 1}"#).status, 404)
        for (body, field) in [(#"{"learning_rate": -1}"#, "learning_rate"), (#"{"snapshot_every": 0}"#, "snapshot_every"),
                              (#"{"canary_floor": 0.5}"#, "canary"), (#"{"noradrenaline": {"gain": "x"}}"#, "noradrenaline.gain"),
                              (#"{"lr": 1}"#, "lr"), (#"{"canary": {"inputs": [[1]], "labels": [0]}}"#, "canary.inputs[0]")] {
            let r = try c.json("PUT", "/v1/models/fm/aliases/prod/adaptation", body)
            XCTAssertEqual(r.status, 400, body + " → " + r.text)
            XCTAssertEqual(r["error", "details", "field"]?.string, field, body)
        }
        XCTAssertEqual(try c.json("PUT", "/v1/models/fm/aliases/nope/adaptation", "{}").status, 404)
        XCTAssertEqual(try c.json("GET", "/v1/models/fm/aliases/prod/adaptation").status, 404)

        // Adapt: teach image 0 a class the model does not give it.
        let start = try c.json("PUT", "/v1/models/fm/aliases/prod/adaptation", #"{"learning_rate": 0.5, "snapshot_every": 5, "noradrenaline": true}"#)
        XCTAssertEqual(start.status, 200, start.text)
        XCTAssertEqual(start["state"]?.string, "active")
        XCTAssertEqual(start["base_version"]?.int, 1)
        let before = probabilities(try c.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([x])))
        XCTAssertEqual(before, probabilities(try c.json("POST", "/v1/models/fm/predict?version=1", Self.predictBody([x]))),
                       "an unadapted alias answers exactly as its version")
        let target = (before.indices.max { before[$0] < before[$1] }! + 1) % 10
        var last: TestResponse?
        for _ in 0..<5 {
            let p = try c.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([x]))
            let id = try XCTUnwrap(p["predictions", "0", "prediction_id"]?.string)
            last = try c.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(id)", "label": \#(target)}"#)
            XCTAssertEqual(last?.status, 200, last?.text ?? "")
            XCTAssertEqual(last?["applied"], .bool(true))
            XCTAssertGreaterThan(last?["update", "dopamine"]?.number ?? 0, 0)
        }
        XCTAssertEqual(last?["snapshot_version"]?.int, 2, "the fifth update is snapshotted as version 2")
        let after = try c.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([x]))
        XCTAssertEqual(after["version"]?.int, 2)
        XCTAssertGreaterThan(probabilities(after)[target], before[target] + 0.2, "feedback moved the answer toward the label")
        XCTAssertEqual(probabilities(try c.json("POST", "/v1/models/fm/predict?version=1", Self.predictBody([x]))), before, "version 1 is immutable")
        XCTAssertEqual(probabilities(try c.json("POST", "/v1/models/fm/predict?version=2", Self.predictBody([x]))), probabilities(after),
                       "the snapshot version answers as the alias does")

        // The registry and the audit trail.
        let model = try c.json("GET", "/v1/models/fm")
        XCTAssertEqual(model["versions", "1", "origin"]?.string, "adaptation")
        XCTAssertEqual(model["versions", "1", "parent_version"]?.int, 1)
        XCTAssertEqual(model["aliases", "prod"]?.int, 2)
        XCTAssertEqual(try c.json("GET", "/v1/runs/\(run)/checkpoints")["checkpoints"]?.array?.count, ownCheckpoints,
                       "snapshots are not the run's own checkpoints")
        let adapted = try XCTUnwrap(model["versions", "1", "checkpoint_id"]?.string)
        let file = try Safetensors.decode(try c.request("GET", "/v1/runs/\(run)/checkpoints/\(adapted)").body)
        XCTAssertEqual(file.metadata["adaptation_updates"], "5")
        let status = try c.json("GET", "/v1/models/fm/aliases/prod/adaptation")
        XCTAssertEqual(status["updates"]?.int, 5)
        XCTAssertEqual(status["version"]?.int, 2)
        XCTAssertGreaterThan(status["drift"]?.number ?? 0, 0)
        XCTAssertNotNil(status["accuracy"]?.number, "labelled feedback is scored")

        // An input far outside the training range: its features overflow; the update is refused.
        let wild = try c.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([x.map { _ in 3e38 }]))
        let refused = try c.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(wild["predictions", "0", "prediction_id"]?.string ?? "")", "label": 1}"#)
        XCTAssertEqual(refused["applied"], .bool(false), refused.text)
        XCTAssertEqual(probabilities(try c.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([x]))), probabilities(after))

        // Rollback: move the alias back; the adapting alias answers as version 1 again.
        XCTAssertEqual(try c.json("PUT", "/v1/models/fm/aliases/prod", #"{"version": 1}"#).status, 200)
        XCTAssertEqual(probabilities(try c.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([x]))), before)
        XCTAssertEqual(try c.json("DELETE", "/v1/models/fm/versions/1").status, 409, "the adaptation's anchor")
        let kinds = try c.json("GET", "/v1/models/fm/events")["events"]?.array?.compactMap { $0["kind"]?.string }
        XCTAssertEqual(kinds?.filter { $0 != "shift_detected" }, ["started", "snapshot", "alias_moved"])
        XCTAssertEqual(try c.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(id0)x", "label": 1}"#).status, 404)
        XCTAssertEqual(try c.json("GET", "/v1/models/fm/events?after=x").status, 400)

        // A restart of adaptation: predictions made before it take no feedback into the new learner.
        let early = try c.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([x]))
        XCTAssertEqual(try c.json("PUT", "/v1/models/fm/aliases/prod/adaptation", #"{"learning_rate": 0.5, "snapshot_every": 5}"#).status, 200)
        let stale = try c.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(early["predictions", "0", "prediction_id"]?.string ?? "")", "label": 1}"#)
        XCTAssertEqual(stale["applied"], .bool(false), stale.text)
        XCTAssertTrue(stale["reason"]?.string?.contains("restarted") ?? false)

        // Stopping: the alias stays; its predictions no longer adapt.
        let p = try c.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([x]))
        XCTAssertEqual(try c.json("DELETE", "/v1/models/fm/aliases/prod/adaptation").status, 204)
        let id = try XCTUnwrap(p["predictions", "0", "prediction_id"]?.string)
        XCTAssertEqual(try c.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(id)", "label": 1}"#)["applied"], .bool(false))
        XCTAssertEqual(try c.json("GET", "/v1/models/fm/aliases/prod/adaptation").status, 404)
        XCTAssertEqual(try c.json("DELETE", "/v1/models/fm/versions/2").status, 204, "an adapted version can be deleted like any other")
    }

    /// Feedback updates the readout while predictions run: every answer equals the forward pass of
    /// one stored version (every update is snapshotted), never a mix of two.
    func testConcurrentPredictionsNeverSeeTornWeights() throws {
        service = try ServiceHarness(workers: 1, transport: .socket)
        let c = try service.client()
        _ = try registeredModel(c)
        XCTAssertEqual(try c.json("PUT", "/v1/models/fm/aliases/prod/adaptation", #"{"learning_rate": 0.8, "snapshot_every": 1}"#).status, 200)
        let x = Self.image(7), body = Self.predictBody([x])
        let seen = Collected()
        let port = service.port
        DispatchQueue.concurrentPerform(iterations: 5) { t in
            do {
                let client = try TestHTTPClient(port: port)
                for i in 0..<30 {
                    let p = try client.json("POST", "/v1/models/fm/predict?alias=prod", body)
                    guard p.status == 200 else { seen.fail(p.text); return }
                    seen.add(p["predictions", "0", "probabilities"]?.array?.compactMap(\.number) ?? [])
                    if t < 2 {   // two clients also give feedback (alternating labels: the weights keep moving)
                        let id = p["predictions", "0", "prediction_id"]?.string ?? ""
                        let f = try client.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(id)", "label": \#((i + t) % 3)}"#)
                        if f.status != 200 { seen.fail(f.text) }
                    }
                }
            } catch { seen.fail("\(error)") }
        }
        let (answers, failures) = seen.snapshot
        XCTAssertEqual(failures.count, 0, "\(failures)")
        let versions = try XCTUnwrap(try c.json("GET", "/v1/models/fm")["versions"]?.array?.compactMap { $0["version"]?.int })
        XCTAssertEqual(versions.count, 61, "the registered version and one snapshot per feedback")
        let stored = try versions.map { probabilities(try c.json("POST", "/v1/models/fm/predict?version=\($0)", body)) }
        XCTAssertEqual(answers.count, 150)
        for answer in answers {
            let nearest = stored.map { s in zip(s, answer).map { abs($0 - $1) }.max() ?? 1 }.min() ?? 1
            XCTAssertLessThan(nearest, 1e-5, "an answer that no stored version gives: \(answer)")
        }
        // The weights really moved between snapshots (so a torn read would have been caught).
        let spread = stored.map { $0[0] }
        XCTAssertGreaterThan((spread.max() ?? 0) - (spread.min() ?? 0), 0.01)
    }

    func testTheCanaryFloorFreezesAdaptationAtTheLastGoodVersion() throws {
        service = try ServiceHarness(workers: 1)
        let c = try service.client()
        _ = try registeredModel(c)
        let canaryRows = (200..<300).map(Self.image), canaryLabels = (200..<300).map(Self.label)
        let v1 = try c.json("POST", "/v1/models/fm/predict?version=1", Self.predictBody(canaryRows))
        let accuracy = Double((0..<100).filter { v1["predictions", String($0), "class"]?.int == canaryLabels[$0] }.count) / 100
        let canary = JSONValue.object(["inputs": .array(canaryRows.map { .array($0.map { .number($0) }) }),
                                       "labels": .array(canaryLabels.map { .number(Double($0)) })])
        let policy = JSONValue.object(["learning_rate": .number(1), "snapshot_every": .number(5), "max_drift": .number(10),
                                       "canary_floor": .number(accuracy - 0.05), "canary": canary])
        let started = try c.request("PUT", "/v1/models/fm/aliases/prod/adaptation", body: policy.serialized())
        XCTAssertEqual(started.status, 200, started.text)
        let canaryAccuracy = started["canary", "accuracy"]?.number
        XCTAssertEqual(canaryAccuracy ?? -1, accuracy, accuracy: 1e-9)

        // Adversarial feedback: always a wrong label. The canary accuracy falls; adaptation freezes.
        var frozen: TestResponse?
        for i in 0..<400 {
            let p = try c.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([Self.image(i)]))
            let answered = try XCTUnwrap(p["predictions", "0", "class"]?.int)
            let f = try c.json("POST", "/v1/models/fm/feedback",
                               #"{"prediction_id": "\#(p["predictions", "0", "prediction_id"]?.string ?? "")", "label": \#((Self.label(i) + 1 + answered) % 10)}"#)
            XCTAssertEqual(f.status, 200, f.text)
            if f["state"]?.string == "frozen" { frozen = f; break }
        }
        XCTAssertNotNil(frozen, "adversarial feedback never crossed the floor")
        let status = try c.json("GET", "/v1/models/fm/aliases/prod/adaptation")
        XCTAssertEqual(status["state"]?.string, "frozen")
        XCTAssertTrue(status["reason"]?.string?.contains("canary") ?? false, status.text)
        let events = try c.json("GET", "/v1/models/fm/events")["events"]?.array ?? []
        XCTAssertEqual(events.last?["kind"]?.string, "frozen")
        XCTAssertLessThan(events.last?["data"]?["canary_accuracy"]?.number ?? 1, accuracy - 0.05)

        // The alias stays at the last version that passed, and answers as it does.
        let version = try XCTUnwrap(try c.json("GET", "/v1/models/fm")["aliases", "prod"]?.int)
        let atVersion = try c.json("POST", "/v1/models/fm/predict?version=\(version)", Self.predictBody(canaryRows))
        let kept = Double((0..<100).filter { atVersion["predictions", String($0), "class"]?.int == canaryLabels[$0] }.count) / 100
        XCTAssertGreaterThanOrEqual(kept, accuracy - 0.05)
        XCTAssertEqual(probabilities(try c.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([canaryRows[0]]))),
                       probabilities(try c.json("POST", "/v1/models/fm/predict?version=\(version)", Self.predictBody([canaryRows[0]]))))
        // Frozen: feedback is taken but changes nothing.
        let p = try c.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([Self.image(0)]))
        let f = try c.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(p["predictions", "0", "prediction_id"]?.string ?? "")", "label": 0}"#)
        XCTAssertEqual(f["applied"], .bool(false))
        XCTAssertEqual(f["state"]?.string, "frozen")
    }

    /// Another node moves the alias (here: straight in the shared store): this node answers from
    /// the registry's version at once and its adapting alias catches up.
    func testAnAliasMovedThroughAnotherNodeIsFollowed() throws {
        service = try ServiceHarness(workers: 1)
        let c = try service.client()
        let run = try registeredModel(c)
        let first = try XCTUnwrap(try c.json("GET", "/v1/runs/\(run)/checkpoints")["checkpoints", "0", "id"]?.string)
        XCTAssertEqual(try c.json("POST", "/v1/models", #"{"name": "fm", "run_id": "\#(run)", "checkpoint_id": "\#(first)"}"#).status, 201)
        XCTAssertEqual(try c.json("PUT", "/v1/models/fm/aliases/prod/adaptation", #"{"snapshot_every": 1000}"#).status, 200)
        let body = Self.predictBody([Self.image(5)])
        let v2 = probabilities(try c.json("POST", "/v1/models/fm/predict?version=2", body))
        XCTAssertNotEqual(probabilities(try c.json("POST", "/v1/models/fm/predict?alias=prod", body)), v2)
        try service.store.setModelAlias(name: "fm", alias: "prod", version: 2)
        Thread.sleep(forTimeInterval: 1.1)   // a node remembers what an alias names for a second
        let moved = try c.json("POST", "/v1/models/fm/predict?alias=prod", body)
        XCTAssertEqual(moved["version"]?.int, 2)
        XCTAssertEqual(probabilities(moved), v2)
        try eventually(timeout: 10, "the adapting alias to follow") { () -> Bool? in
            try c.json("GET", "/v1/models/fm/aliases/prod/adaptation")["version"]?.int == 2 ? true : nil
        }
        let p = try c.json("POST", "/v1/models/fm/predict?alias=prod", body)
        XCTAssertEqual(probabilities(p), v2)
        let f = try c.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(p["predictions", "0", "prediction_id"]?.string ?? "")", "label": 2}"#)
        XCTAssertEqual(f["applied"], .bool(true), "it adapts from the new version")
    }

    func testFeedbackIsRateLimitedPerModel() throws {
        service = try ServiceHarness(workers: 1, serving: { $0.feedbackPerSecond = 3 })
        let c = try service.client()
        _ = try registeredModel(c)
        let p = try c.json("POST", "/v1/models/fm/predict", Self.predictBody((0..<8).map(Self.image)))
        var statuses: [Int] = []
        for r in 0..<8 {
            let id = p["predictions", String(r), "prediction_id"]?.string ?? ""
            let f = try c.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(id)", "label": 1}"#)
            statuses.append(f.status)
            if f.status == 429 { XCTAssertNotNil(f.header("Retry-After")) }
        }
        XCTAssertEqual(statuses.prefix(3), [200, 200, 200])
        XCTAssertTrue(statuses.contains(429), "\(statuses)")
    }

    /// SIGKILL while feedback is being applied and snapshotted: after a restart the alias points
    /// at the last snapshot recorded, every version's checkpoint is whole, and adaptation goes on.
    func testSIGKILLDuringAdaptationRestoresTheLastSnapshot() throws {
        let dir = try Paths.temporaryDirectory("adapt-kill")
        defer { try? FileManager.default.removeItem(at: dir) }
        var server: ServiceProcess? = try ServiceProcess(dataDir: dir)
        let c = try server!.client()
        let run = try registeredModel(c)
        XCTAssertEqual(try c.json("PUT", "/v1/models/fm/aliases/prod/adaptation", #"{"learning_rate": 0.3, "snapshot_every": 3}"#).status, 200)
        let sent = Collected()
        let port = server!.port
        let pid = server!.process.processIdentifier
        DispatchQueue.concurrentPerform(iterations: 2) { role in
            if role == 1 {
                // Kill once feedback has flowed for a while (snapshots are being written all along).
                let deadline = Date().addingTimeInterval(60)
                while sent.count < 40 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
                Glibc.kill(pid, SIGKILL)
                return
            }
            guard let client = try? TestHTTPClient(port: port) else { return }
            var i = 0
            while let p = try? client.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([Self.image(i % 500)])),
                  let id = p["predictions", "0", "prediction_id"]?.string,
                  (try? client.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(id)", "label": \#(Self.label(i % 500))}"#)) != nil {
                i += 1
                sent.add([])
            }
        }
        XCTAssertGreaterThanOrEqual(sent.count, 40)
        _ = server!.waitForExit(timeout: 10)
        server = nil

        let restarted = try ServiceProcess(dataDir: dir)
        let c2 = try restarted.client()
        let model = try c2.json("GET", "/v1/models/fm")
        let versions = model["versions"]?.array ?? []
        let alias = try XCTUnwrap(model["aliases", "prod"]?.int)
        XCTAssertEqual(alias, versions.last?["version"]?.int, "the alias is at the newest snapshot")
        XCTAssertGreaterThan(alias, 1)
        // Every version is whole: its checkpoint decodes and matches its digest, and it serves.
        for v in versions {
            guard let cid = v["checkpoint_id"]?.string, let n = v["version"]?.int else { return XCTFail() }
            let data = try c2.request("GET", "/v1/runs/\(run)/checkpoints/\(cid)")
            XCTAssertEqual(data.status, 200)
            XCTAssertNoThrow(try Safetensors.decode(data.body))
            XCTAssertEqual(try c2.json("POST", "/v1/models/fm/predict?version=\(n)", Self.predictBody([Self.image(0)])).status, 200)
        }
        let status = try c2.json("GET", "/v1/models/fm/aliases/prod/adaptation")
        XCTAssertEqual(status["state"]?.string, "active")
        XCTAssertEqual(status["version"]?.int, alias)
        XCTAssertEqual(status["updates"]?.int, (alias - 1) * 3, "the count stored with the last snapshot")
        XCTAssertEqual(status["updates_since_snapshot"]?.int, 0)
        // The restored alias answers as its version, and goes on adapting from it.
        XCTAssertEqual(probabilities(try c2.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([Self.image(3)]))),
                       probabilities(try c2.json("POST", "/v1/models/fm/predict?version=\(alias)", Self.predictBody([Self.image(3)]))))
        var snapshot: Int?
        for i in 0..<3 {
            let p = try c2.json("POST", "/v1/models/fm/predict?alias=prod", Self.predictBody([Self.image(i)]))
            let f = try c2.json("POST", "/v1/models/fm/feedback", #"{"prediction_id": "\#(p["predictions", "0", "prediction_id"]?.string ?? "")", "label": \#(Self.label(i))}"#)
            snapshot = f["snapshot_version"]?.int ?? snapshot
        }
        XCTAssertEqual(snapshot, alias + 1)
    }
}

/// Answers gathered from several threads.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var answers: [[Double]] = []
    private var failures: [String] = []
    func add(_ a: [Double]) { lock.lock(); answers.append(a); lock.unlock() }
    func fail(_ f: String) { lock.lock(); failures.append(f); lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return answers.count }
    var snapshot: ([[Double]], [String]) { lock.lock(); defer { lock.unlock() }; return (answers, failures) }
}
