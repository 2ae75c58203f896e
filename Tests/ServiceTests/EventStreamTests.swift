import Foundation
import XCTest
import Support
#if canImport(Glibc)
import Glibc
#endif

/// A raw loopback connection that sends one request and reads a streamed response.
final class StreamClient {
    let fd: Int32
    private(set) var received: [UInt8] = []

    init(port: Int, path: String, headers: [String] = []) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { close(fd); throw TestClientError.malformed("connect failed") }
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
    }

    deinit { close(fd) }

    /// Reads until the server closes the connection or `timeout` passes; returns whether it closed.
    @discardableResult
    func readToEnd(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) <= 0 { continue }
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return true }
            received += buf[0..<n]
        }
        return false
    }

    /// The status line and the SSE messages after the head: (id, event, data).
    var messages: (head: String, events: [(id: Int?, event: String, data: String)]) {
        let text = String(decoding: received, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return (text, []) }
        var events: [(Int?, String, String)] = []
        for block in text[split.upperBound...].components(separatedBy: "\n\n") where !block.isEmpty {
            var id: Int?, event = "message", data = ""
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { id = Int(line.dropFirst(4)) }
                else if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                else if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            if !(block.hasPrefix(":")) { events.append((id, event, data)) }
        }
        return (String(text[..<split.lowerBound]), events)
    }
}

/// `GET /v1/runs/{id}/events` (Server-Sent Events) on the real binary.
final class EventStreamTests: XCTestCase {
    /// One item per state change, checkpoint and metric point, with the id of its message.
    static func items(_ events: [(id: Int?, event: String, data: String)]) -> [(id: Int?, item: String)] {
        events.flatMap { e -> [(Int?, String)] in
            if e.event == "metrics" {
                return (JSONValue.parse(Data(e.data.utf8))?.objectValue?["points"]?.arrayValue ?? []).map { (e.id, "metric " + $0.serializedString) }
            }
            return [(e.id, e.event + " " + e.data)]
        }
    }

    func testRunEventsStreamResumesAndEnds() throws {
        let dir = try Paths.temporaryDirectory("sse")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ServiceProcess(dataDir: dir)
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        let c = try server.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "sse"}"#)["id"]?.string)
        let run = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"model": {"layers": [784, 16, 10]}, "data": {"train_limit": 3000, "test_limit": 300}, "protocol": {"epochs": 3}, "metrics_every_steps": 5, "checkpoint_every_steps": 20}"#)["id"]?.string)
        let live = try StreamClient(port: server.port, path: "/v1/runs/\(run)/events")
        XCTAssertTrue(live.readToEnd(timeout: 120), "the stream ends with the run")
        let (head, events) = live.messages
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 200"), head)
        XCTAssertTrue(head.lowercased().contains("content-type: text/event-stream"), head)
        let ids = events.compactMap(\.id)
        XCTAssertEqual(ids.count, events.count, "every message carries an id")
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(ids).count, ids.count, "ids increase strictly")
        XCTAssertEqual(events.first?.event, "state")
        XCTAssertTrue(events.first?.data.contains("\"queued\"") ?? false)
        XCTAssertEqual(events.last?.event, "state")
        XCTAssertTrue(events.last?.data.contains("\"succeeded\"") ?? false, events.last?.data ?? "")
        XCTAssertTrue(events.contains { $0.event == "checkpoint" })
        // Every point of a series arrives, as the API's series holds them.
        let series = try c.json("GET", "/v1/runs/\(run)/metrics/train.loss?limit=1000")["points"]?.array ?? []
        let streamed = Self.items(events).filter { $0.item.hasPrefix("metric ") && $0.item.contains(#""key":"train.loss""#) }
        XCTAssertEqual(streamed.count, series.count)
        XCTAssertGreaterThan(series.count, 10)
        // Resumed from a message in the middle: exactly what followed it — no gap, no duplicate.
        let all = Self.items(events)
        for k in [ids[1], ids[ids.count / 2], ids[ids.count - 2]] {
            let resumed = try StreamClient(port: server.port, path: "/v1/runs/\(run)/events", headers: ["Last-Event-ID: \(k)"])
            XCTAssertTrue(resumed.readToEnd(timeout: 30))
            let cut = (all.lastIndex { $0.id == k } ?? -1) + 1
            XCTAssertEqual(Self.items(resumed.messages.events).map(\.item), all[cut...].map(\.item), "after id \(k)")
        }
        // Bad input.
        let missing = try StreamClient(port: server.port, path: "/v1/runs/run_nope/events")
        missing.readToEnd(timeout: 10)
        XCTAssertTrue(missing.messages.head.hasPrefix("HTTP/1.1 404"), missing.messages.head)
        let bad = try StreamClient(port: server.port, path: "/v1/runs/\(run)/events", headers: ["Last-Event-ID: yesterday"])
        bad.readToEnd(timeout: 10)
        XCTAssertTrue(bad.messages.head.hasPrefix("HTTP/1.1 400"), bad.messages.head)
    }

    /// A history longer than one read of the store (10,000 events) arrives whole, and the cursor
    /// of a metric listing read while the run trains resumes its stream with nothing missed: the
    /// series read after the listing plus the stream from its cursor hold every point.
    func testLongHistoriesArriveWholeAndTheListingCursorMissesNothing() throws {
        let dir = try Paths.temporaryDirectory("sse-long")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ServiceProcess(dataDir: dir)
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        let c = try server.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "long"}"#)["id"]?.string)
        let run = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"model": {"layers": [784, 8, 10]}, "data": {"train_limit": 12000, "test_limit": 100}, "optimizer": {"kind": "sgd", "batch_size": 16}, "protocol": {"epochs": 5}, "metrics_every_steps": 1, "checkpoint_every_steps": 100000}"#)["id"]?.string)
        func steps(_ points: [JSONValue]) -> [Int] { points.compactMap { $0["step"]?.number.map(Int.init) } }
        let listing = try eventually(timeout: 120, "the run's first points") { () -> TestResponse? in
            let l = try c.json("GET", "/v1/runs/\(run)/metrics")
            return (l["metrics"]?.array ?? []).isEmpty ? nil : l
        }
        let cursor = try XCTUnwrap(listing["last_event_id"]?.number.map(Int.init))
        let snapshot = steps(try c.json("GET", "/v1/runs/\(run)/metrics/train.loss?limit=10000")["points"]?.array ?? [])
        let tail = try StreamClient(port: server.port, path: "/v1/runs/\(run)/events?after=\(cursor)")
        XCTAssertTrue(tail.readToEnd(timeout: 300), "the stream ends with the run")
        XCTAssertTrue(tail.messages.events.allSatisfy { ($0.id ?? 0) > cursor }, "only events after the cursor")
        let streamed = Self.items(tail.messages.events).filter { $0.item.contains(#""key":"train.loss""#) }.compactMap {
            JSONValue.parse(Data($0.item.dropFirst("metric ".count).utf8))?["step"]?.number.map(Int.init)
        }
        let final = steps(try c.json("GET", "/v1/runs/\(run)/metrics/train.loss?limit=10000")["points"]?.array ?? [])
        XCTAssertEqual(final.count, 3750)
        XCTAssertEqual(Set(snapshot).union(streamed), Set(final), "snapshot + stream from its cursor = the whole series")
        XCTAssertLessThan(snapshot.count, final.count, "the snapshot was taken while the run trained")
        // The whole history, now longer than one read of the store: nothing cut short.
        let whole = try StreamClient(port: server.port, path: "/v1/runs/\(run)/events")
        XCTAssertTrue(whole.readToEnd(timeout: 60))
        let items = Self.items(whole.messages.events)
        XCTAssertGreaterThan(items.count, 10_000)
        XCTAssertEqual(items.filter { $0.item.contains(#""key":"train.loss""#) }.count, final.count)
        XCTAssertTrue(whole.messages.events.last?.data.contains("\"succeeded\"") ?? false)
    }

    /// A study's stream: every run's events in one increasing order, tagged with their run, and a
    /// final `study` message once all runs have ended; resumable like a run's.
    func testStudyEventsStream() throws {
        let dir = try Paths.temporaryDirectory("sse-study")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ServiceProcess(dataDir: dir)
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        let c = try server.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "study-sse"}"#)["id"]?.string)
        let study = try c.json("POST", "/v1/experiments/\(exp)/studies", #"{"base": {"protocol": {"kind": "bandit", "trials": 400}, "metrics_every_steps": 50}, "seeds": 3}"#)
        XCTAssertEqual(study.status, 202, study.text)
        let id = try XCTUnwrap(study["id"]?.string)
        let live = try StreamClient(port: server.port, path: "/v1/studies/\(id)/events")
        XCTAssertTrue(live.readToEnd(timeout: 120))
        let events = live.messages.events
        XCTAssertEqual(events.last?.event, "study")
        XCTAssertTrue(events.last?.data.contains("\"done\"") ?? false)
        let ids = events.compactMap(\.id)
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(ids).count, ids.count)
        let runs = try c.json("GET", "/v1/experiments/\(exp)/runs")["runs"]?.array?.compactMap { $0["id"]?.string } ?? []
        XCTAssertEqual(runs.count, 3)
        for run in runs {
            XCTAssertTrue(events.contains { $0.event == "state" && $0.data.contains(run) && $0.data.contains("\"succeeded\"") }, "run \(run) ends in the stream")
        }
        XCTAssertTrue(events.dropLast().allSatisfy { $0.data.hasPrefix("{\"run_id\":\"run_") }, "every message names its run")
        let all = Self.items(events.dropLast().map { $0 })
        let k = ids[ids.count / 2]
        let resumed = try StreamClient(port: server.port, path: "/v1/studies/\(id)/events", headers: ["Last-Event-ID: \(k)"])
        XCTAssertTrue(resumed.readToEnd(timeout: 30))
        let cut = (all.lastIndex { $0.id == k } ?? -1) + 1
        XCTAssertEqual(Self.items(resumed.messages.events.dropLast().map { $0 }).map(\.item), all[cut...].map(\.item))
        XCTAssertEqual(resumed.messages.events.last?.event, "study")
        let missing = try StreamClient(port: server.port, path: "/v1/studies/study_nope/events")
        missing.readToEnd(timeout: 10)
        XCTAssertTrue(missing.messages.head.hasPrefix("HTTP/1.1 404"), missing.messages.head)
    }

    /// 1,000 open streams hold no thread each: the server's memory grows by less than 100 MB,
    /// other requests stay fast, and canceling the run ends every stream.
    func testAThousandStreams() throws {
        let dir = try Paths.temporaryDirectory("sse1000")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ServiceProcess(dataDir: dir, extraArguments: ["--max-connections", "1100"])
        defer { server.kill(SIGTERM); _ = server.waitForExit(timeout: 10) }
        let c = try server.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "many"}"#)["id"]?.string)
        let run = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/runs", #"{"model": {"layers": [784, 16, 10]}, "protocol": {"epochs": 500}, "metrics_every_steps": 50, "checkpoint_every_steps": 100000}"#)["id"]?.string)
        // Training (its data set loaded) before the baseline is taken.
        _ = try eventually(timeout: 60, "training") { () -> Bool? in ((try c.json("GET", "/v1/runs/\(run)")["progress"]?["completed"]?.int) ?? 0) > 0 ? true : nil }
        Thread.sleep(forTimeInterval: 1)
        func rss() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0   // KiB
        }
        let before = rss()
        var streams: [StreamClient] = []
        for _ in 0..<1000 { streams.append(try StreamClient(port: server.port, path: "/v1/runs/\(run)/events")) }
        _ = try eventually(timeout: 30, "1,000 streams open") { () -> Bool? in
            let page = String(decoding: try c.request("GET", "/metrics").body, as: UTF8.self)
            let open = page.split(separator: "\n").first { $0.hasPrefix("neuromod_http_open_connections ") }.flatMap { Double($0.split(separator: " ").last!) } ?? 0
            return open >= 1001 ? true : nil
        }
        Thread.sleep(forTimeInterval: 1)
        let grown = rss() - before
        XCTAssertLessThan(grown, 100 * 1024, "RSS grew by \(grown) KiB for 1,000 streams")
        print("1,000 streams: RSS +\(grown) KiB")
        var latencies: [Double] = []
        for _ in 0..<200 {
            let t = Date()
            XCTAssertEqual(try c.request("GET", "/v1/runs/\(run)").status, 200)
            latencies.append(Date().timeIntervalSince(t))
        }
        latencies.sort()
        XCTAssertLessThan(latencies[197], 0.05, "p99 of GET run with 1,000 streams open: \(latencies[197] * 1000) ms")
        print("GET run with 1,000 streams open: p50 \(latencies[100] * 1000) ms, p99 \(latencies[197] * 1000) ms")
        XCTAssertEqual(try c.json("POST", "/v1/runs/\(run)/cancel").status, 202)
        var ended = 0
        for s in streams where s.readToEnd(timeout: 30) {
            if s.messages.events.last?.data.contains("\"canceled\"") == true { ended += 1 }
        }
        XCTAssertEqual(ended, 1000, "every stream saw the run end and was closed")
    }
}
