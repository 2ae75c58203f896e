import ArgumentParser
import Foundation
import RESTClient
import Support
#if canImport(Glibc)
import Glibc
#endif

/// Options of the commands that talk to a running service.
struct ServerOptions: ParsableArguments {
    @Option(help: "The service's base URL (env NEUROMOD_URL, default http://127.0.0.1:8080).") var server: String?

    /// A client for the service; the bearer token comes from NEUROMOD_TOKEN.
    func client() -> APIClient {
        APIClient(rest: RESTClient(baseURL: Setting.string(server, "NEUROMOD_URL", "http://127.0.0.1:8080"),
                                   token: ProcessInfo.processInfo.environment["NEUROMOD_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }))
    }
}

/// The REST API as the command-line client uses it: JSON in, JSON out, API errors as messages.
struct APIClient {
    let rest: RESTClient

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Sends a request and returns its JSON answer; a 4xx/5xx becomes a ``Failure`` with the
    /// service's message (and the field it names).
    func call(_ method: String, _ path: String, _ body: JSONValue? = nil) throws -> JSONValue {
        let r: RESTClient.Response
        do { r = try rest.request(method, path, json: body.map { $0.serialized() }) } catch {
            throw Failure(description: "cannot reach the service: \(error)")
        }
        let json = JSONValue.parse(r.body) ?? .null
        guard (200..<300).contains(r.status) else {
            let e = json.objectValue?["error"]?.objectValue
            let field = e?["details"]?.objectValue?["field"]?.stringValue.map { " (\($0))" } ?? ""
            throw Failure(description: "\(r.status): \(e?["message"]?.stringValue ?? String(decoding: r.body.prefix(300), as: UTF8.self))\(field)")
        }
        return json
    }
}

extension JSONValue {
    subscript(_ key: String) -> JSONValue? { objectValue?[key] }
}

/// Flushes standard output (progress lines must show at once).
func flushOutput() { fflush(nil) }

/// Runs a command's body; a service or transport failure is printed as `neuromod: …` on standard
/// error and the command exits 1.
func reportingFailures(_ body: () throws -> Void) throws {
    do { try body() } catch let e as APIClient.Failure {
        printError("neuromod: \(e.description)")
        throw ExitCode(1)
    }
}

/// Prints to standard error.
func printError(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

// MARK: - submit

struct Submit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Submit a run spec to the service; with --watch, follow it to its end.")

    @Argument(help: "A run spec JSON file (see examples/).") var spec: String
    @Option(help: "The experiment to file the run under, by name (created when missing; default: the spec's name, else \"cli\").") var experiment: String?
    @Flag(help: "Follow the run: a progress bar on a terminal, plain lines otherwise; exit 1 unless it succeeds.") var watch = false
    @OptionGroup var options: ServerOptions

    func run() throws {
        let api = options.client()
        guard let data = FileManager.default.contents(atPath: spec), let body = JSONValue.parse(data), body.objectValue != nil else {
            throw ValidationError("\(spec) is not a readable JSON object")
        }
        let name = experiment ?? body["name"]?.stringValue ?? "cli"
        try reportingFailures {
            let experimentID = try Self.experiment(named: name, api)
            let run = try api.call("POST", "/v1/experiments/\(experimentID)/runs", body)
            guard let id = run["id"]?.stringValue else { throw APIClient.Failure(description: "the service answered without a run id") }
            print(id)
            flushOutput()
            if watch { try Watch.follow(id, api) }
        }
    }

    /// The id of the experiment called `name`, created when there is none.
    static func experiment(named name: String, _ api: APIClient) throws -> String {
        var token: String?
        repeat {
            let page = try api.call("GET", "/v1/experiments?limit=500" + (token.map { "&page_token=\($0)" } ?? ""))
            for e in page["experiments"]?.arrayValue ?? [] where e["name"]?.stringValue == name {
                if let id = e["id"]?.stringValue { return id }
            }
            token = page["next_page_token"]?.stringValue
        } while token != nil
        let created = try api.call("POST", "/v1/experiments", .object(["name": .string(name)]))
        guard let id = created["id"]?.stringValue else { throw APIClient.Failure(description: "the service answered without an experiment id") }
        return id
    }
}

/// Following a run to its end.
enum Watch {
    /// Polls the run until it ends; a progress bar when stdout is a terminal, else one line per
    /// state change and per tenth of progress. Throws ExitCode(1) unless the run succeeds.
    static func follow(_ id: String, _ api: APIClient, interval: Double = 0.25) throws {
        let terminal = isatty(STDOUT_FILENO) == 1
        var lastState = "", lastTenth = -1
        var samples: [(time: Double, done: Double)] = []
        while true {
            let run = try api.call("GET", "/v1/runs/\(id)")
            let state = run["state"]?.stringValue ?? "?"
            let progress = run["progress"]
            let done = progress?["completed"]?.numberValue ?? 0, total = max(1, progress?["total"]?.numberValue ?? 1)
            let unit = progress?["unit"]?.stringValue ?? "steps"
            let now = Date().timeIntervalSince1970
            if state == "running" {
                samples.append((now, done))
                samples = samples.filter { now - $0.time <= 10 }
            }
            let rate = samples.count > 1 && samples.last!.time > samples.first!.time
                ? (samples.last!.done - samples.first!.done) / (samples.last!.time - samples.first!.time) : 0
            let line = Self.progressLine(state: state, done: done, total: total, unit: unit, rate: rate)
            if terminal {
                print("\r\u{1B}[2K" + line, terminator: "")
                flushOutput()
            } else {
                let tenth = Int(10 * done / total)
                if state != lastState || tenth != lastTenth { print(line); flushOutput() }
                lastTenth = tenth
            }
            lastState = state
            if ["succeeded", "failed", "canceled"].contains(state) {
                if terminal { print("") }
                if state != "succeeded" {
                    printError("neuromod: run \(id) \(state)" + (run["failure_reason"]?.stringValue.map { ": \($0)" } ?? ""))
                    throw ExitCode(1)
                }
                return
            }
            Thread.sleep(forTimeInterval: interval)
        }
    }

    /// `running [#########-----------]  45% 450/1000 steps  812.3 steps/s  ETA 0:01`.
    static func progressLine(state: String, done: Double, total: Double, unit: String, rate: Double) -> String {
        let share = min(1, max(0, done / total))
        let width = 24, filled = Int((share * Double(width)).rounded(.down))
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
        var line = "\(state) \(bar) \(String(format: "%3d%%", Int(share * 100))) \(Int(done))/\(Int(total)) \(unit)"
        if rate > 0 {
            let eta = Int(((total - done) / rate).rounded())
            line += String(format: "  %.1f %@/s  ETA %d:%02d", rate, unit, eta / 60, eta % 60)
        }
        return line
    }
}

// MARK: - runs, show, metrics, cancel

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the service's runs, newest first.")
    @Option(help: "Only runs in this state (queued, running, succeeded, failed, canceled).") var state: String?
    @Option(help: "At most this many (1–500).") var limit = 50
    @OptionGroup var options: ServerOptions

    func run() throws {
        let api = options.client()
        try reportingFailures {
            var path = "/v1/runs?limit=\(limit)"
            if let state { path += "&state=\(state)" }
            let page = try api.call("GET", path)
            let runs = page["runs"]?.arrayValue ?? []
            let idWidth = max(2, runs.map { ($0["id"]?.stringValue ?? "").count }.max() ?? 0)
            print("ID".padding(toLength: idWidth, withPad: " ", startingAt: 0) + " STATE      PROGRESS        CREATED")
            for r in runs {
                let p = r["progress"]
                let progress = "\(Int(p?["completed"]?.numberValue ?? 0))/\(Int(p?["total"]?.numberValue ?? 0))"
                print((r["id"]?.stringValue ?? "?").padding(toLength: idWidth, withPad: " ", startingAt: 0) + " "
                      + (r["state"]?.stringValue ?? "?").padding(toLength: 10, withPad: " ", startingAt: 0) + " "
                      + progress.padding(toLength: 15, withPad: " ", startingAt: 0) + " " + (r["created_at"]?.stringValue ?? ""))
            }
        }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a run: its state, progress and summary.")
    @Argument(help: "The run id.") var runID: String
    @OptionGroup var options: ServerOptions

    func run() throws {
        let api = options.client()
        try reportingFailures {
            let r = try api.call("GET", "/v1/runs/\(runID)")
            let p = r["progress"]
            print("run       \(runID)")
            print("state     \(r["state"]?.stringValue ?? "?")" + (r["failure_reason"]?.stringValue.map { " (\($0))" } ?? ""))
            print("progress  \(Int(p?["completed"]?.numberValue ?? 0))/\(Int(p?["total"]?.numberValue ?? 0)) \(p?["unit"]?.stringValue ?? "")")
            print("attempt   \(Int(r["attempt"]?.numberValue ?? 0))")
            let summary = try api.call("GET", "/v1/runs/\(runID)/summary")
            if let s = summary["summary"], s != .null {
                print("summary")
                let data = (try? JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: s.serialized()), options: [.prettyPrinted, .sortedKeys])) ?? s.serialized()
                print(String(decoding: data, as: UTF8.self))
            }
        }
    }
}

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A run's metric series: its range and a terminal sparkline.")
    @Argument(help: "The run id.") var runID: String
    @Argument(help: "The metric key, e.g. train.loss.") var key: String
    @Option(help: "Sparkline width in characters.") var width = 60
    @OptionGroup var options: ServerOptions

    func run() throws {
        let api = options.client()
        try reportingFailures {
            let series = try api.call("GET", "/v1/runs/\(runID)/metrics/\(key)?limit=10000")
            let points = (series["points"]?.arrayValue ?? []).compactMap { p -> (Double, Double)? in
                guard let s = p["step"]?.numberValue, let v = p["value"]?.numberValue else { return nil }
                return (s, v)
            }
            guard let first = points.first, let last = points.last else { print("\(key): no points"); return }
            let values = points.map(\.1)
            print("\(key): \(points.count) points, steps \(Int(first.0))–\(Int(last.0)), min \(values.min()!), max \(values.max()!), last \(last.1)")
            print(Self.sparkline(values, width: max(1, width)))
        }
    }

    /// One block character per bucket of consecutive values (bucket means), scaled min…max.
    static func sparkline(_ values: [Double], width: Int) -> String {
        let blocks = Array("▁▂▃▄▅▆▇█")
        let n = min(width, values.count)
        let means = (0..<n).map { b -> Double in
            let lo = b * values.count / n, hi = max(lo + 1, (b + 1) * values.count / n)
            return values[lo..<hi].reduce(0, +) / Double(hi - lo)
        }
        let lo = means.min() ?? 0, hi = means.max() ?? 0
        return String(means.map { v in hi > lo ? blocks[min(7, Int((v - lo) / (hi - lo) * 7.999))] : blocks[3] })
    }
}

struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a queued or running run.")
    @Argument(help: "The run id.") var runID: String
    @OptionGroup var options: ServerOptions

    func run() throws {
        try reportingFailures {
            let r = try options.client().call("POST", "/v1/runs/\(runID)/cancel")
            print("\(runID) \(r["state"]?.stringValue ?? "?")" + (r["cancel_requested"] == .bool(true) ? " (cancel requested)" : ""))
        }
    }
}

// MARK: - pull

struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Download a run's checkpoint (safetensors), resuming a partial download, and verify its sha256.")
    @Argument(help: "The run id.") var runID: String
    @Option(help: "best (highest selection score, else latest), latest, or a checkpoint id.") var checkpoint = "latest"
    @Option(name: .shortAndLong, help: "The file to write.") var output: String
    @OptionGroup var options: ServerOptions

    func run() throws {
        let api = options.client()
        try reportingFailures {
            let list = try api.call("GET", "/v1/runs/\(runID)/checkpoints?limit=500")["checkpoints"]?.arrayValue ?? []
            guard let chosen = Self.choose(checkpoint, from: list), let id = chosen["id"]?.stringValue,
                  let sha = chosen["sha256"]?.stringValue, let size = chosen["size"]?.intValue else {
                throw APIClient.Failure(description: list.isEmpty ? "run \(runID) has no checkpoint" : "no checkpoint \(checkpoint) in run \(runID)")
            }
            let target = URL(fileURLWithPath: output)
            let partial = URL(fileURLWithPath: output + ".partial")
            var offset = (try? FileManager.default.attributesOfItem(atPath: partial.path)[.size] as? Int) ?? 0
            if offset > size { offset = 0 }
            if offset < size {
                let status: Int
                do { status = try api.rest.download("/v1/runs/\(runID)/checkpoints/\(id)", to: partial, offset: offset) } catch {
                    throw APIClient.Failure(description: "download interrupted (rerun to resume): \(error)")
                }
                guard status == 200 || status == 206 else { throw APIClient.Failure(description: "download answered \(status)") }
            }
            let data = try Data(contentsOf: partial)
            guard SHA256.hex(data) == sha else {
                try? FileManager.default.removeItem(at: partial)
                throw APIClient.Failure(description: "sha256 mismatch for \(id): the partial file was removed; rerun to download it again")
            }
            _ = try? FileManager.default.removeItem(at: target)
            try FileManager.default.moveItem(at: partial, to: target)
            print("\(id) step \(chosen["step"]?.intValue ?? 0), \(data.count) bytes, sha256 \(sha) → \(output)" + (offset > 0 ? " (resumed at byte \(offset))" : ""))
        }
    }

    static func choose(_ which: String, from list: [JSONValue]) -> JSONValue? {
        let latest = list.max { ($0["step"]?.numberValue ?? 0) < ($1["step"]?.numberValue ?? 0) }
        switch which {
        case "latest": return latest
        case "best":
            let scored = list.filter { $0["score"]?.numberValue != nil }
            return scored.max { ($0["score"]?.numberValue ?? 0) < ($1["score"]?.numberValue ?? 0) } ?? latest
        default: return list.first { $0["id"]?.stringValue == which }
        }
    }
}
