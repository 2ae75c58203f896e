import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL server for tests: `initdb` into a temporary folder and `pg_ctl start`
/// on a free loopback port, as an unprivileged user when the tests run as root (CI does; the
/// server refuses root). A missing PostgreSQL fails the test — `.ci/run` installs postgresql-15.
public final class PostgresServer: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    private let bin: String
    private let owner: String?

    public var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres?connect_timeout=5" }

    public static func binDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        guard let v = versions.last, FileManager.default.isExecutableFile(atPath: "\(root)/\(v)/bin/initdb") else {
            throw TestError("PostgreSQL server binaries not found under \(root): apt-get install postgresql-15")
        }
        return "\(root)/\(v)/bin"
    }

    public init() throws {
        bin = try Self.binDirectory()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("nm-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        owner = getuid() == 0 ? "nobody" : nil
        if owner != nil { try Self.run("/bin/chown", ["-R", "nobody:nogroup", directory.path]) }
        port = TestSupport.freeLoopbackPort()
        try runAsOwner("\(bin)/initdb", ["-D", directory.appendingPathComponent("data").path, "-U", "postgres", "-A", "trust",
                                         "--no-sync", "-E", "UTF8", "--locale", "C"])
        try start()
    }

    deinit { try? stop(); try? FileManager.default.removeItem(at: directory) }

    public func start() throws {
        try runAsOwner("\(bin)/pg_ctl", ["-D", directory.appendingPathComponent("data").path, "-w", "-t", "30",
                                         "-l", directory.appendingPathComponent("log").path,
                                         "-o", "-p \(port) -k \(directory.path) -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
    }

    public func stop() throws {
        try runAsOwner("\(bin)/pg_ctl", ["-D", directory.appendingPathComponent("data").path, "-w", "-m", "fast", "stop"])
    }

    private func runAsOwner(_ tool: String, _ arguments: [String]) throws {
        if let owner { try Self.run("/usr/sbin/runuser", ["-u", owner, "--", tool] + arguments) } else { try Self.run(tool, arguments) }
    }

    /// Runs a tool to completion (posix_spawn + waitpid: the server pg_ctl starts outlives it and
    /// inherits nothing of ours but /dev/null and a log file).
    private static func run(_ tool: String, _ arguments: [String]) throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("nm-pg-cmd-\(UUID().uuidString.prefix(8)).log")
        defer { try? FileManager.default.removeItem(at: log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, tool, &actions, nil, argv, environ)
        guard rc == 0 else { throw TestError("cannot start \(tool): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = (status & 0x7f) == 0, code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw TestError("\(tool) \(arguments.joined(separator: " ")) failed (status \(status)): \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }
    }
}

public struct TestError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
