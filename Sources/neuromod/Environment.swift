import Foundation

/// Settings read from flags first, then `NEUROMOD_*` environment variables, then defaults.
enum Setting {
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

/// Timestamped lines on standard error.
enum Log {
    static func info(_ message: String) {
        let line = "\(Representation.now()) neuromod: \(message)\n"
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
