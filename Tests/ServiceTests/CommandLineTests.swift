import XCTest
import Support
import Storage
import TestSupport

/// The `neuromod` subcommands as a user or a container runtime calls them.
final class CommandLineTests: XCTestCase {
    func runBinary(_ args: [String], env: [String: String] = [:]) throws -> (Int32, String) { try runNeuromod(args, env: env) }

    /// Nodes starting together migrate once: pairs of `migrate` processes launched at the same
    /// moment on fresh folders both succeed, and the schema is whole.
    func testProcessesStartingTogetherMigrateOnce() throws {
        for round in 0..<12 {
            let dir = try Paths.temporaryDirectory("migrate-race-\(round)")
            defer { try? FileManager.default.removeItem(at: dir) }
            let codes = Statuses()
            DispatchQueue.concurrentPerform(iterations: 2) { _ in
                codes.add((try? runNeuromod(["migrate", "--data-dir", dir.path]).0).map(Int.init) ?? -1)
            }
            XCTAssertEqual(codes.all, [0, 0], "round \(round)")
            let db = try Database(path: dir.appendingPathComponent("neuromod.sqlite").path)
            XCTAssertEqual(try db.execute("PRAGMA user_version")[0].int(0), try Migrator(directory: Paths.migrations).latestVersion)
            XCTAssertEqual(try db.execute("PRAGMA integrity_check")[0].string(0), "ok")
        }
    }

    func testMigrateCreatesTheSchemaOnce() throws {
        let dir = try Paths.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (code, out) = try runBinary(["migrate", "--data-dir", dir.path])
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("applied migrations 1, 2, 3, 4, 5"), out)
        // The data folder can also come from the environment.
        let (code2, out2) = try runBinary(["migrate"], env: ["NEUROMOD_DATA_DIR": dir.path])
        XCTAssertEqual(code2, 0)
        XCTAssertTrue(out2.contains("nothing to do"), out2)
        let db = try Database(path: dir.appendingPathComponent("neuromod.sqlite").path)
        XCTAssertEqual(try db.execute("PRAGMA user_version")[0].int(0), try Migrator(directory: Paths.migrations).latestVersion)
    }

    /// `migrate` and `serve` on PostgreSQL: the schema once (three processes at the same moment),
    /// then "nothing to do"; a URL of another kind, an unreachable server and `backup` are refused
    /// with a message, before anything starts.
    func testMigrateOnPostgreSQLAndWhatIsRefused() throws {
        let postgres = try PostgresServer()
        let codes = Statuses()
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            codes.add((try? runNeuromod(["migrate", "--database", postgres.url]).0).map(Int.init) ?? -1)
        }
        XCTAssertEqual(codes.all, [0, 0, 0])
        let versions = try PostgresConnection(url: postgres.url).execute("SELECT version FROM neuromod_schema ORDER BY version").map { $0.int(0) }
        XCTAssertEqual(versions, Array(1...(try Migrator(directory: Paths.migrations).latestVersion)), "each migration once")
        let (again, out) = try runBinary(["migrate"], env: ["NEUROMOD_DATABASE_URL": postgres.url])
        XCTAssertEqual(again, 0, out)
        XCTAssertTrue(out.contains("nothing to do"), out)
        let dir = try Paths.temporaryDirectory("cli-pg")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (wrong, wrongOut) = try runBinary(["serve", "--data-dir", dir.path, "--database", "mysql://x@localhost/db"])
        XCTAssertNotEqual(wrong, 0)
        XCTAssertTrue(wrongOut.contains("--database must be a postgres://"), wrongOut)
        let (down, downOut) = try runBinary(["serve", "--data-dir", dir.path, "--database", "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2"])
        XCTAssertNotEqual(down, 0)
        XCTAssertTrue(downOut.contains("cannot use the PostgreSQL database"), downOut)
        let (backup, backupOut) = try runBinary(["backup", dir.appendingPathComponent("b.sqlite").path], env: ["NEUROMOD_DATABASE_URL": postgres.url])
        XCTAssertNotEqual(backup, 0)
        XCTAssertTrue(backupOut.contains("pg_dump"), backupOut)
        let (badStore, badStoreOut) = try runBinary(["serve", "--data-dir", dir.path, "--object-store", "s3://neuromod/x"],
                                                    env: ["NEUROMOD_S3_ENDPOINT": "", "AWS_ENDPOINT_URL": ""])
        XCTAssertNotEqual(badStore, 0)
        XCTAssertTrue(badStoreOut.contains("NEUROMOD_S3_ENDPOINT"), badStoreOut)
    }

    /// Training threads run niced (request handling first when a core is contended); the HTTP
    /// threads keep the default priority. Read from /proc, per thread.
    func testTrainingThreadsAreNiced() throws {
        let dir = try Paths.temporaryDirectory("nice")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ServiceProcess(dataDir: dir, extraArguments: ["--worker-niceness", "7"])
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        let pid = server.process.processIdentifier
        func nice(of thread: String) throws -> Int? {
            for tid in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") {
                let comm = (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                guard comm == thread, let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")") else { continue }
                // Fields after the name: state is field 3; nice is field 19.
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                return Int(fields[16])
            }
            return nil
        }
        try eventually(timeout: 10, "the worker thread") { () -> Bool? in try nice(of: "worker-0") != nil ? true : nil }
        XCTAssertEqual(try nice(of: "worker-0"), 7)
        XCTAssertEqual(try nice(of: "neuromod"), 0, "the other threads (HTTP included) keep the default")
        let (code, out) = try runBinary(["serve", "--data-dir", dir.path, "--worker-niceness", "25"])
        XCTAssertNotEqual(code, 0)
        XCTAssertTrue(out.contains("--worker-niceness must be between 0 and 19"), out)
    }

    func testHealthcheckAndHelp() throws {
        let dir = try Paths.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ServiceProcess(dataDir: dir)
        let (ok, okOut) = try runBinary(["healthcheck", "--port", String(server.port)])
        XCTAssertEqual(ok, 0, okOut)
        let (okEnv, _) = try runBinary(["healthcheck"], env: ["NEUROMOD_PORT": String(server.port)])
        XCTAssertEqual(okEnv, 0)
        server.kill(SIGTERM)
        XCTAssertEqual(server.waitForExit(timeout: 10)?.0, 0)
        let (down, downOut) = try runBinary(["healthcheck", "--port", String(server.port)])
        XCTAssertEqual(down, 1, downOut)
        for cmd in [[], ["serve"], ["migrate"], ["healthcheck"], ["bench"]] {
            let (code, out) = try runBinary(cmd + ["--help"])
            XCTAssertEqual(code, 0)
            XCTAssertTrue(out.contains("USAGE"), out)
        }
        let (bad, badOut) = try runBinary(["serve", "--port", "notaport"])
        XCTAssertNotEqual(bad, 0)
        XCTAssertTrue(badOut.contains("port"), badOut)
    }

    /// `neuromod bench --spec` times any run spec; `--isa` picks the spiking kernels, and the
    /// same seed trains to the same accuracy on each.
    func testBenchTimesASpecOnAChosenInstructionSet() throws {
        let dir = try Paths.temporaryDirectory("cli-bench")
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = dir.appendingPathComponent("snn.json")
        try Data(#"{"data": {"train_limit": 512, "test_limit": 200}, "model": {"kind": "snn", "layers": [784, 32, 10], "snn": {"steps": 6}}, "protocol": {"epochs": 1}}"#.utf8).write(to: spec)
        var accuracies: [Double] = []
        for isa in ["portable", "avx2"] {
            let (code, out) = try runBinary(["bench", "--spec", spec.path, "--isa", isa])
            if code != 0 && out.contains("cannot run") { continue }   // a CPU without AVX2
            XCTAssertEqual(code, 0, out)
            let line = try XCTUnwrap(out.split(separator: "\n").last { $0.hasPrefix("RESULT ") }, out)
            let result = try XCTUnwrap(JSONValue.parse(Data(line.dropFirst(7).utf8)))
            XCTAssertEqual(result["isa"]?.string, isa)
            XCTAssertEqual(result["model"]?.string, "snn")
            XCTAssertGreaterThan(result["train_samples_per_s_epoch1"]?.number ?? 0, 0)
            accuracies.append(try XCTUnwrap(result["test_acc"]?.number))
        }
        XCTAssertEqual(Set(accuracies).count, 1, "bit-identical training on each: \(accuracies)")
        let (bad, badOut) = try runBinary(["bench", "--spec", spec.path, "--isa", "sse9"])
        XCTAssertNotEqual(bad, 0)
        XCTAssertTrue(badOut.contains("--isa must be"), badOut)
    }
}
