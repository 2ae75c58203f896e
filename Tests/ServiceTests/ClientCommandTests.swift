import Foundation
import XCTest
import Support
#if canImport(Glibc)
import Glibc
#endif

/// The command-line client (`neuromod submit|runs|show|metrics|pull|cancel`) against the real
/// server, over libcurl.
final class ClientCommandTests: XCTestCase {
    var dir: URL!
    var server: ServiceProcess!
    var env: [String: String] { ["NEUROMOD_URL": "http://127.0.0.1:\(server.port)"] }

    override func setUpWithError() throws {
        dir = try Paths.temporaryDirectory("client")
        server = try ServiceProcess(dataDir: dir)
    }

    override func tearDown() {
        server?.kill(SIGTERM)
        _ = server?.waitForExit(timeout: 10)
        try? FileManager.default.removeItem(at: dir)
    }

    func write(_ spec: String, _ name: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try spec.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testSubmitWatchListShowMetricsPullAndCancel() throws {
        let spec = try write(#"{"name": "cli-demo", "model": {"layers": [784, 16, 10]}, "data": {"train_limit": 2000, "test_limit": 200}, "protocol": {"epochs": 2}, "metrics_every_steps": 4, "checkpoint_every_steps": 10}"#, "spec.json")
        let (code, out) = try runNeuromod(["submit", spec, "--watch"], env: env)
        XCTAssertEqual(code, 0, out)
        let run = try XCTUnwrap(out.split(separator: "\n").first.map(String.init))
        XCTAssertTrue(run.hasPrefix("run_"), out)
        XCTAssertTrue(out.contains("succeeded [########################] 100%"), "plain lines when not on a terminal: \(out)")
        XCTAssertFalse(out.contains("\u{1B}"), "no terminal control sequences in a pipe")
        // The experiment is found again by name, not duplicated.
        let (again, againOut) = try runNeuromod(["submit", spec], env: env)
        XCTAssertEqual(again, 0, againOut)
        let c = try server.client()
        XCTAssertEqual(try c.json("GET", "/v1/experiments")["experiments"]?.array?.count, 1)

        let (lc, list) = try runNeuromod(["runs", "--state", "succeeded"], env: env)
        XCTAssertEqual(lc, 0)
        XCTAssertTrue(list.contains(run) && list.contains("succeeded"), list)
        let (sc, show) = try runNeuromod(["show", run], env: env)
        XCTAssertEqual(sc, 0)
        XCTAssertTrue(show.contains("succeeded") && show.contains("test_accuracy"), show)
        let (mc, metrics) = try runNeuromod(["metrics", run, "train.loss", "--width", "10"], env: env)
        XCTAssertEqual(mc, 0, metrics)
        let spark = try XCTUnwrap(metrics.split(separator: "\n").last)
        XCTAssertEqual(spark.count, 10)
        XCTAssertTrue(spark.allSatisfy { "▁▂▃▄▅▆▇█".contains($0) }, metrics)

        // pull: the latest checkpoint, byte for byte what the API serves, sha256 checked; a
        // partial file is resumed with a Range request; a corrupt one is caught and removed.
        let checkpoints = try c.json("GET", "/v1/runs/\(run)/checkpoints")["checkpoints"]?.array ?? []
        let latest = try XCTUnwrap(checkpoints.max { ($0["step"]?.int ?? 0) < ($1["step"]?.int ?? 0) })
        let served = try c.request("GET", "/v1/runs/\(run)/checkpoints/\(latest["id"]!.string!)").body
        let file = dir.appendingPathComponent("latest.safetensors")
        let (pc, pull) = try runNeuromod(["pull", run, "-o", file.path], env: env)
        XCTAssertEqual(pc, 0, pull)
        XCTAssertEqual(try Data(contentsOf: file), served)
        try served.prefix(5000).write(to: URL(fileURLWithPath: file.path + ".partial"))
        let (rc, resumed) = try runNeuromod(["pull", run, "--checkpoint", "latest", "-o", file.path], env: env)
        XCTAssertEqual(rc, 0, resumed)
        XCTAssertTrue(resumed.contains("resumed at byte 5000"), resumed)
        XCTAssertEqual(try Data(contentsOf: file), served)
        try Data(repeating: 7, count: 5000).write(to: URL(fileURLWithPath: file.path + ".partial"))
        let (bc, bad) = try runNeuromod(["pull", run, "-o", file.path], env: env)
        XCTAssertEqual(bc, 1)
        XCTAssertTrue(bad.contains("sha256 mismatch"), bad)
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path + ".partial"))
        let (nc, none) = try runNeuromod(["pull", run, "--checkpoint", "ckpt_nope", "-o", file.path], env: env)
        XCTAssertEqual(nc, 1)
        XCTAssertTrue(none.contains("no checkpoint ckpt_nope"), none)

        // cancel, and a run that fails: --watch exits 1 with the reason.
        let long = try write(#"{"model": {"layers": [784, 16, 10]}, "protocol": {"epochs": 200}, "checkpoint_every_steps": 100000}"#, "long.json")
        let (_, longOut) = try runNeuromod(["submit", long], env: env)
        let longRun = String(longOut.split(separator: "\n").first ?? "")
        let (cc, cancel) = try runNeuromod(["cancel", longRun], env: env)
        XCTAssertEqual(cc, 0, cancel)
        _ = try eventually(timeout: 60, "canceled") { () -> Bool? in try c.json("GET", "/v1/runs/\(longRun)")["state"]?.string == "canceled" ? true : nil }
        let failing = try write(#"{"model": {"layers": [784, 16, 10]}, "protocol": {"epochs": 200}, "execution": {"max_runtime_s": 1}, "checkpoint_every_steps": 100000}"#, "failing.json")
        let (fc, fail) = try runNeuromod(["submit", failing, "--watch"], env: env)
        XCTAssertEqual(fc, 1, fail)
        XCTAssertTrue(fail.contains("failed"), fail)
        let (uc, unreachable) = try runNeuromod(["runs"], env: ["NEUROMOD_URL": "http://127.0.0.1:1"])
        XCTAssertEqual(uc, 1)
        XCTAssertTrue(unreachable.contains("cannot reach the service"), unreachable)
        let (vc, invalid) = try runNeuromod(["submit", try write(#"{"model": {"layers": [784, 16]}}"#, "invalid.json")], env: env)
        XCTAssertEqual(vc, 1)
        XCTAssertTrue(invalid.contains("400") && invalid.contains("model.layers"), invalid)
    }

    /// NEUROMOD_TOKEN is sent as a bearer token; without it a protected service answers 401.
    func testTokenFromTheEnvironment() throws {
        let tokenDir = try Paths.temporaryDirectory("client-auth")
        defer { try? FileManager.default.removeItem(at: tokenDir) }
        let token = "cli-token-0123456789abcdef"
        let file = tokenDir.appendingPathComponent("tokens")
        try "read \(token)\n".write(to: file, atomically: true, encoding: .utf8)
        let protected = try ServiceProcess(dataDir: tokenDir, extraArguments: ["--tokens-file", file.path])
        defer { protected.kill(SIGTERM); _ = protected.waitForExit(timeout: 10) }
        let url = "http://127.0.0.1:\(protected.port)"
        let (denied, deniedOut) = try runNeuromod(["runs"], env: ["NEUROMOD_URL": url])
        XCTAssertEqual(denied, 1)
        XCTAssertTrue(deniedOut.contains("401"), deniedOut)
        let (ok, okOut) = try runNeuromod(["runs", "--server", url], env: ["NEUROMOD_TOKEN": token])
        XCTAssertEqual(ok, 0, okOut)
        XCTAssertFalse(okOut.contains(token))
    }

    /// On a terminal (a pseudo-terminal from `script`), --watch draws one redrawn progress bar
    /// with steps/s and an ETA.
    func testProgressBarInAPseudoTerminal() throws {
        let spec = try write(#"{"model": {"layers": [784, 64, 10]}, "data": {"train_limit": 60000}, "protocol": {"epochs": 2}, "optimizer": {"batch_size": 16}, "checkpoint_every_steps": 100000}"#, "tty.json")
        let command = "\(ServiceProcess.binary.path) submit \(spec) --watch"
        let (code, out) = try runProgram("/usr/bin/script", ["-qfec", command, "/dev/null"], env: env)
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("\r\u{1B}[2K"), "the line is redrawn in place: \(out.debugDescription.prefix(400))")
        XCTAssertTrue(out.contains("steps/s") && out.contains("ETA"), out)
        XCTAssertTrue(out.contains("succeeded"), out)
    }
}
