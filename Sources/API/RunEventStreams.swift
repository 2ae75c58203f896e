import Foundation
import HTTP
import Storage
import Support

/// One client's Server-Sent Events stream of a run (or of every run of a study): `state`,
/// `progress`, `checkpoint` and `metrics` (a batch of consecutive metric points) messages, each with the id of
/// its last `run_events` row, so that `Last-Event-ID` resumes with no gap and no duplicate; a
/// comment line as heartbeat. Ends after the run's terminal state (a study's: when all its runs
/// have ended, with a final `study` message). Costs a buffer, not a thread: ``RunEventHub`` feeds
/// it and the server's event loop drains it.
final class RunEventStream: HTTPBodyStream, @unchecked Sendable {
    /// The runs followed; a study stream tags each message's data with its `run_id`.
    let runIDs: Set<String>
    private let studyID: String?
    /// Runs not yet seen ending.
    private var open: Set<String>
    private let lock = NSLock()
    private var buffer: [UInt8] = []
    private var ended = false
    private var canceled = false
    private var notify: (@Sendable () -> Void)?
    /// While the history is being sent, live events wait here (they are newer).
    private var catchingUp = true
    private var held: [RunEvent] = []
    private(set) var lastWrite = Date()

    /// A run's stream.
    init(runID: String) {
        runIDs = [runID]
        open = [runID]
        studyID = nil
    }

    /// A study's stream over `runs`, of which `open` have not ended.
    init(studyID: String, runs: Set<String>, open: Set<String>) {
        runIDs = runs
        self.open = open
        self.studyID = studyID
    }

    /// A study stream whose runs had all ended before it started: its final message, then the end.
    func endIfStudyDone() {
        lock.lock()
        if studyID != nil && open.isEmpty && !ended { finishStudy() }
        lock.unlock()
        signal()
    }

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

    /// Formats events as SSE messages (caller holds the lock): runs of metric points of one run
    /// become one `metrics` message.
    private func append(_ events: [RunEvent]) {
        var i = 0
        while i < events.count, !ended {
            let e = events[i]
            if e.kind == "metric" {
                var j = i
                var points: [String] = []
                while j < events.count, events[j].kind == "metric", events[j].runID == e.runID { points.append(events[j].data); j += 1 }
                message(id: events[j - 1].seq, event: "metrics", data: tagged("{\"points\":[" + points.joined(separator: ",") + "]}", e.runID))
                i = j
                continue
            }
            message(id: e.seq, event: e.kind, data: tagged(e.data, e.runID))
            if e.kind == "state", let s = JSONValue.parse(Data(e.data.utf8))?.objectValue?["state"]?.stringValue,
               ["succeeded", "failed", "canceled"].contains(s) {
                // Only a run that was still open can end the stream (a study's history may hold
                // the ends of runs that had ended before the stream started).
                if open.remove(e.runID) != nil && open.isEmpty {
                    if studyID != nil { finishStudy() } else { ended = true }
                }
            }
            i += 1
        }
    }

    /// A study stream's data carry the run they belong to.
    private func tagged(_ data: String, _ runID: String) -> String {
        guard studyID != nil, data.hasPrefix("{") else { return data }
        return "{\"run_id\":\"\(runID)\"," + data.dropFirst()
    }

    private func finishStudy() {
        buffer += Array("event: study\ndata: {\"study_id\":\"\(studyID ?? "")\",\"state\":\"done\",\"runs\":\(runIDs.count)}\n\n".utf8)
        ended = true
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
    private var streams: [RunEventStream] = []
    private var lastSeq: Int?
    private var running = false
    let tick: Double
    let heartbeatInterval: Double

    init(store: Store, tick: Double = 0.1, heartbeatInterval: Double = 15) {
        self.store = store
        self.tick = tick
        self.heartbeatInterval = heartbeatInterval
    }

    /// Registers a stream, sends it its runs' events after `after` (read by `history(after,
    /// through)`) and then the live ones.
    func subscribe(_ stream: RunEventStream, after: Int, history: (_ after: Int, _ through: Int) throws -> [RunEvent]) throws {
        let latest = try store.latestRunEventSeq()
        lock.lock()
        if lastSeq == nil { lastSeq = latest }
        let through = lastSeq!
        streams.append(stream)
        let start = !running
        running = true
        lock.unlock()
        if start {
            let thread = Thread { [weak self] in self?.loop() }
            thread.name = "sse-hub"
            thread.start()
        }
        // The history in pages of whatever size the store reads, so that none is cut short.
        var events: [RunEvent] = []
        var from = after
        while from < through {
            let page = try history(from, through)
            guard let last = page.last else { break }
            events += page
            from = last.seq
        }
        stream.deliverHistory(events)
    }

    private func loop() {
        while true {
            Thread.sleep(forTimeInterval: tick)
            lock.lock()
            streams = streams.filter { !$0.isClosed }
            if streams.isEmpty { running = false; lastSeq = nil; lock.unlock(); return }
            let from = lastSeq ?? 0
            lock.unlock()
            guard let events = try? store.runEvents(after: from) else { continue }
            lock.lock()
            if let last = events.last { lastSeq = last.seq }
            let snapshot = streams
            lock.unlock()
            if !events.isEmpty {
                var byRun: [String: [RunEvent]] = [:]
                for e in events { byRun[e.runID, default: []].append(e) }
                for s in snapshot {
                    if s.runIDs.count == 1, let run = s.runIDs.first {
                        if let list = byRun[run] { s.deliver(list) }
                    } else {
                        // Several runs: their events in the one global order.
                        let list = events.filter { s.runIDs.contains($0.runID) }
                        if !list.isEmpty { s.deliver(list) }
                    }
                }
            }
            let now = Date()
            for s in snapshot { s.heartbeat(now: now, interval: heartbeatInterval) }
        }
    }
}

extension ServiceAPI {
    /// The event id a stream resumes after: `Last-Event-ID`, else `?after=`, else 0.
    func resumePoint(_ ctx: RequestContext) throws -> Int {
        guard let given = ctx.request.headers["Last-Event-ID"] ?? ctx.request.queryValue("after") else { return 0 }
        guard let n = Int(given.trimmingCharacters(in: .whitespaces)), n >= 0 else {
            throw APIError.invalid("Last-Event-ID", "must be an event id (a non-negative integer)")
        }
        return n
    }

    /// `GET /v1/studies/{study_id}/events`: the events of every run of the study in one order,
    /// each message's data tagged with its `run_id`; ends with a `study` message once every run
    /// has ended.
    func studyEvents(_ ctx: RequestContext) throws -> HTTPResponse {
        let studyID = ctx.parameter("study_id")
        guard try store.study(id: studyID) != nil else { throw APIError.notFound("study \(studyID)") }
        let after = try resumePoint(ctx)
        let runs = try store.studyRuns(studyID: studyID)
        let stream = RunEventStream(studyID: studyID, runs: Set(runs.map(\.id)),
                                    open: Set(runs.filter { !$0.state.isTerminal }.map(\.id)))
        try eventHub.subscribe(stream, after: after) { [store] in try store.runEvents(studyID: studyID, after: $0, through: $1) }
        stream.endIfStudyDone()
        return Self.eventStreamResponse(stream)
    }

    static func eventStreamResponse(_ stream: RunEventStream) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.set("Content-Type", "text/event-stream; charset=utf-8")
        headers.set("Cache-Control", "no-cache")
        headers.set("X-Accel-Buffering", "no")
        var response = HTTPResponse(status: 200, headers: headers)
        response.stream = stream
        return response
    }

    /// `GET /v1/runs/{run_id}/events`: the run's events as Server-Sent Events, from
    /// `Last-Event-ID` (or `?after=`) on; ends after its terminal state.
    func runEvents(_ ctx: RequestContext) throws -> HTTPResponse {
        let run = try requireRun(ctx.parameter("run_id"))
        let after = try resumePoint(ctx)
        let stream = RunEventStream(runID: run.id)
        try eventHub.subscribe(stream, after: after) { [store] in try store.runEvents(runID: run.id, after: $0, through: $1) }
        if run.state.isTerminal && !stream.isClosed {
            // Ended before this server recorded events (or its terminal event precedes `after`).
            let current = try requireRun(run.id)
            stream.finish(withState: current.state.rawValue)
        }
        return Self.eventStreamResponse(stream)
    }
}
