import Foundation
import HTTP
import Storage
import Support

/// One client's Server-Sent Events stream of a run: `state`, `checkpoint` and `metrics` (a batch
/// of consecutive metric points) messages, each with the id of its last `run_events` row, so that
/// `Last-Event-ID` resumes with no gap and no duplicate; a comment line as heartbeat. Ends after
/// the run's terminal state. Costs a buffer, not a thread: ``RunEventHub`` feeds it and the
/// server's event loop drains it.
final class RunEventStream: HTTPBodyStream, @unchecked Sendable {
    let runID: String
    private let lock = NSLock()
    private var buffer: [UInt8] = []
    private var ended = false
    private var canceled = false
    private var notify: (@Sendable () -> Void)?
    /// While the history is being sent, live events wait here (they are newer).
    private var catchingUp = true
    private var held: [RunEvent] = []
    private(set) var lastWrite = Date()

    init(runID: String) { self.runID = runID }

    var isClosed: Bool { lock.lock(); defer { lock.unlock() }; return ended || canceled }

    func start(notify: @escaping @Sendable () -> Void) {
        lock.lock()
        self.notify = notify
        let ready = !buffer.isEmpty || ended
        lock.unlock()
        if ready { notify() }
    }

    func read() -> (bytes: [UInt8], finished: Bool) {
        lock.lock(); defer { lock.unlock() }
        let out = buffer
        buffer.removeAll(keepingCapacity: true)
        return (out, ended)
    }

    func cancel() { lock.lock(); canceled = true; lock.unlock() }

    /// The history (oldest first), then whatever arrived live meanwhile.
    func deliverHistory(_ events: [RunEvent]) {
        lock.lock()
        append(events)
        append(held.filter { $0.seq > (events.last?.seq ?? 0) })
        held = []
        catchingUp = false
        lock.unlock()
        signal()
    }

    /// Live events from the hub.
    func deliver(_ events: [RunEvent]) {
        lock.lock()
        if catchingUp { held += events; lock.unlock(); return }
        append(events)
        lock.unlock()
        signal()
    }

    /// A state message without an id (a run that ended before events were recorded), and the end.
    func finish(withState state: String) {
        lock.lock()
        if !ended {
            buffer += Array("event: state\ndata: {\"state\":\"\(state)\"}\n\n".utf8)
            ended = true
        }
        lock.unlock()
        signal()
    }

    /// A comment line when nothing was written for `interval` seconds (keeps proxies and the
    /// client's reconnection timer from giving up).
    func heartbeat(now: Date, interval: Double) {
        lock.lock()
        guard !ended, now.timeIntervalSince(lastWrite) >= interval else { lock.unlock(); return }
        buffer += Array(": heartbeat\n\n".utf8)
        lastWrite = now
        lock.unlock()
        signal()
    }

    private func signal() {
        lock.lock()
        let n = notify
        let has = !buffer.isEmpty || ended
        lock.unlock()
        if has { n?() }
    }

    /// Formats events as SSE messages (caller holds the lock): runs of metric points become one
    /// `metrics` message.
    private func append(_ events: [RunEvent]) {
        var i = 0
        while i < events.count, !ended {
            let e = events[i]
            if e.kind == "metric" {
                var j = i
                var points: [String] = []
                while j < events.count, events[j].kind == "metric" { points.append(events[j].data); j += 1 }
                message(id: events[j - 1].seq, event: "metrics", data: "{\"points\":[" + points.joined(separator: ",") + "]}")
                i = j
                continue
            }
            message(id: e.seq, event: e.kind, data: e.data)
            if e.kind == "state", let s = JSONValue.parse(Data(e.data.utf8))?.objectValue?["state"]?.stringValue,
               ["succeeded", "failed", "canceled"].contains(s) {
                ended = true
            }
            i += 1
        }
    }

    private func message(id: Int, event: String, data: String) {
        // The data are one-line JSON; a line break would split the field, so none is kept.
        let oneLine = data.replacingOccurrences(of: "\n", with: " ")
        buffer += Array("id: \(id)\nevent: \(event)\ndata: \(oneLine)\n\n".utf8)
        lastWrite = Date()
    }
}

/// Polls `run_events` once per tick for every stream at once (one query however many streams
/// are open) and hands each stream its run's new events; sends heartbeats. Its thread runs only
/// while streams are open.
final class RunEventHub: @unchecked Sendable {
    private let store: Store
    private let lock = NSLock()
    private var streams: [String: [RunEventStream]] = [:]
    private var lastSeq: Int?
    private var running = false
    let tick: Double
    let heartbeatInterval: Double

    init(store: Store, tick: Double = 0.1, heartbeatInterval: Double = 15) {
        self.store = store
        self.tick = tick
        self.heartbeatInterval = heartbeatInterval
    }

    /// Registers a stream for `runID`, sends it the events after `after` and then the live ones.
    func subscribe(_ stream: RunEventStream, after: Int) throws {
        let latest = try store.latestRunEventSeq()
        lock.lock()
        if lastSeq == nil { lastSeq = latest }
        let through = lastSeq!
        streams[stream.runID, default: []].append(stream)
        let start = !running
        running = true
        lock.unlock()
        if start {
            let thread = Thread { [weak self] in self?.loop() }
            thread.name = "sse-hub"
            thread.start()
        }
        stream.deliverHistory(try store.runEvents(runID: stream.runID, after: after, through: through))
    }

    var openStreams: Int { lock.lock(); defer { lock.unlock() }; return streams.values.reduce(0) { $0 + $1.count } }

    private func loop() {
        while true {
            Thread.sleep(forTimeInterval: tick)
            lock.lock()
            streams = streams.mapValues { $0.filter { !$0.isClosed } }.filter { !$0.value.isEmpty }
            if streams.isEmpty { running = false; lastSeq = nil; lock.unlock(); return }
            let from = lastSeq ?? 0
            lock.unlock()
            guard let events = try? store.runEvents(after: from) else { continue }
            lock.lock()
            if let last = events.last { lastSeq = last.seq }
            let snapshot = streams
            lock.unlock()
            var byRun: [String: [RunEvent]] = [:]
            for e in events where snapshot[e.runID] != nil { byRun[e.runID, default: []].append(e) }
            for (run, list) in byRun { for s in snapshot[run] ?? [] { s.deliver(list) } }
            let now = Date()
            for list in snapshot.values { for s in list { s.heartbeat(now: now, interval: heartbeatInterval) } }
        }
    }
}

extension ServiceAPI {
    /// `GET /v1/runs/{run_id}/events`: the run's events as Server-Sent Events, from
    /// `Last-Event-ID` (or `?after=`) on; ends after its terminal state.
    func runEvents(_ ctx: RequestContext) throws -> HTTPResponse {
        let run = try requireRun(ctx.parameter("run_id"))
        var after = 0
        if let given = ctx.request.headers["Last-Event-ID"] ?? ctx.request.queryValue("after") {
            guard let n = Int(given.trimmingCharacters(in: .whitespaces)), n >= 0 else {
                throw APIError.invalid("Last-Event-ID", "must be an event id (a non-negative integer)")
            }
            after = n
        }
        let stream = RunEventStream(runID: run.id)
        try eventHub.subscribe(stream, after: after)
        if run.state.isTerminal && !stream.isClosed {
            // Ended before this server recorded events (or its terminal event precedes `after`).
            let current = try requireRun(run.id)
            stream.finish(withState: current.state.rawValue)
        }
        var headers = HTTPHeaders()
        headers.set("Content-Type", "text/event-stream; charset=utf-8")
        headers.set("Cache-Control", "no-cache")
        headers.set("X-Accel-Buffering", "no")
        var response = HTTPResponse(status: 200, headers: headers)
        response.stream = stream
        return response
    }
}
