import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Runs the `neuromod` binary with `args` to its end: exit status and stdout + stderr.
func runNeuromod(_ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
    try runProgram(ServiceProcess.binary.path, args, env: ["NEUROMOD_MIGRATIONS_DIR": Paths.migrations.path].merging(env) { $1 })
}

/// Runs `path` with `args` (the environment plus `env`) to its end: exit status and stdout + stderr.
func runProgram(_ path: String, _ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The real `neuromod serve` binary in a child process (for SIGKILL/SIGTERM tests).
final class ServiceProcess {
    let process = Process()
    let port: Int
    private let output = Pipe()
    private let errors: FileHandle

    static var binary: URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("neuromod"),
            Bundle.main.bundleURL.appendingPathComponent("neuromod"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("neuromod"),
            Paths.repoRoot.appendingPathComponent(".build/debug/neuromod"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates.last!
    }

    /// The server's stderr (its log).
    let logURL: URL

    init(dataDir: URL, extraArguments: [String] = [], environment: [String: String] = [:]) throws {
        process.executableURL = Self.binary
        process.arguments = ["serve", "--port", "0", "--data-dir", dataDir.path, "--workers", "1",
                             "--dataset-dir", Paths.datasetDir] + extraArguments
        var env = ProcessInfo.processInfo.environment
        env["NEUROMOD_MIGRATIONS_DIR"] = Paths.migrations.path
        env["NEUROMOD_OPENAPI"] = Paths.openAPI.path
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = output
        logURL = dataDir.appendingPathComponent("server-\(UUID().uuidString.prefix(6)).log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        errors = try FileHandle(forWritingTo: logURL)
        process.standardError = errors
        try process.run()
        // The first stdout line is "LISTENING <port>".
        var line = Data()
        let deadline = Date().addingTimeInterval(30)
        while !line.contains(UInt8(ascii: "\n")) && Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("LISTENING "), let p = Int(text.dropFirst(10)) else {
            process.terminate()
            throw TestClientError.malformed("server did not start: \(text); log in \(logURL.path)")
        }
        port = p
    }

    func client() throws -> TestHTTPClient { try TestHTTPClient(port: port) }

    func kill(_ signal: Int32) { Glibc.kill(process.processIdentifier, signal) }

    /// Waits for exit; returns (status, seconds waited) or nil on timeout.
    func waitForExit(timeout: Double) -> (Int32, Double)? {
        let start = Date()
        while process.isRunning && Date().timeIntervalSince(start) < timeout { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { return nil }
        return (process.terminationStatus, Date().timeIntervalSince(start))
    }

    deinit {
        if process.isRunning { kill(SIGKILL); process.waitUntilExit() }
        try? errors.close()
    }
}
