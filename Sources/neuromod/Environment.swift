import Foundation
import Support
import API
import CSystemShims

/// Settings read from flags first, then `NEUROMOD_*` environment variables, then defaults.
enum Setting {
    static func optionalString(_ flag: String?, _ env: String) -> String? {
        flag ?? ProcessInfo.processInfo.environment[env].flatMap { $0.isEmpty ? nil : $0 }
    }

    static func string(_ flag: String?, _ env: String, _ fallback: String) -> String {
        flag ?? ProcessInfo.processInfo.environment[env].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
    }

    static func int(_ flag: Int?, _ env: String, _ fallback: Int) throws -> Int {
        if let flag { return flag }
        guard let raw = ProcessInfo.processInfo.environment[env], !raw.isEmpty else { return fallback }
        guard let v = Int(raw) else { throw ConfigurationError("\(env) must be an integer, got \(raw)") }
        return v
    }
}

struct ConfigurationError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Finds files shipped beside the binary: a source checkout (walking up from the executable or the
/// working directory) or the installed copy under /usr/share/neuromod.
enum Resources {
    static func locate(_ name: String, env: String) -> URL? {
        let fm = FileManager.default
        if let e = ProcessInfo.processInfo.environment[env], !e.isEmpty { return URL(fileURLWithPath: e) }
        var starts = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() { starts.insert(exe, at: 0) }
        for start in starts {
            var dir = start
            for _ in 0..<8 {
                let candidate = dir.appendingPathComponent(name)
                if fm.fileExists(atPath: candidate.path) { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        let system = URL(fileURLWithPath: "/usr/share/neuromod").appendingPathComponent(name)
        return fm.fileExists(atPath: system.path) ? system : nil
    }
}

/// Log lines on standard error: timestamped text (the default), or one JSON object per line
/// (`--log-format json`: time, level, event, and run_id, request_id, method, route, status,
/// duration_ms where they apply — JSON lines also log every request).
enum Log {
    enum Format: String { case text, json }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var currentFormat = Format.text

    /// Set once at start-up, before any worker or handler thread runs.
    static var format: Format {
        get { lock.lock(); defer { lock.unlock() }; return currentFormat }
        set { lock.lock(); currentFormat = newValue; lock.unlock() }
    }

    static func info(_ message: String) { event("message", message: message, fields: [:]) }

    /// A run's event (started, resumed, finished, …).
    static func run(_ message: String, runID: String?) {
        event("run", message: message, fields: runID.map { ["run_id": .string($0)] } ?? [:])
    }

    /// One answered request (JSON format only: the text log stays as quiet as before).
    static func request(_ e: AccessLogEntry) {
        guard format == .json else { return }
        event("request", message: nil, fields: [
            "request_id": .string(e.requestID), "method": .string(e.method), "route": .string(e.route),
            "status": .number(Double(e.status)), "duration_ms": .number((e.seconds * 1e6).rounded() / 1e3),
        ])
    }

    private static func event(_ name: String, message: String?, fields: [String: JSONValue], level: String = "info") {
        let line: String
        switch format {
        case .text:
            line = "\(Representation.now()) neuromod: \(message ?? name)\n"
        case .json:
            var o = fields
            o["time"] = .string(Representation.now())
            o["level"] = .string(level)
            o["event"] = .string(name)
            if let message { o["message"] = .string(message) }
            line = JSONValue.object(o).serializedString + "\n"
        }
        // A log that cannot be written (full disk, closed pipe) must never stop the service:
        // the throwing API reports the failure instead of trapping, and the line is dropped.
        try? FileHandle.standardError.write(contentsOf: Data(line.utf8))
    }
}

enum Representation {
    static func now() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date())
    }
}

/// The process's memory policy.
enum MemoryPolicy {
    /// Large blocks (an upload validated, a data set read, a checkpoint written) go back to the
    /// system when freed: glibc otherwise raises its mmap threshold after the first such free and
    /// keeps later ones in its heap (three 19 MB uploads left +90 MB of RSS; now +1.5 MB). Every
    /// command that trains or serves calls this first, so benchmarks measure what serve runs.
    static func returnLargeBlocks() { _ = nm_fix_mmap_threshold(256 * 1024) }
}
