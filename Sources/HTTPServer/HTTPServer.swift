import Foundation
import HTTP
import CSystemShims
#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.1 server: one epoll event loop thread does all socket I/O and feeds the
/// incremental parser; complete requests go to a pool of handler threads.
///
/// Idle and slow connections cost a little memory, not a thread. Limits, deadlines and the
/// connection cap come from ``ServerConfiguration``.
public final class HTTPServer: @unchecked Sendable {
    public let configuration: ServerConfiguration
    private let responder: any HTTPResponder
    private var listener: Int32 = -1
    private var epoll: Int32 = -1
    private var wakeFD: Int32 = -1
    private var loopThread: Thread?
    private let pool: HandlerPool
    private let finished = DispatchSemaphore(value: 0)

    /// Open connections, published by the loop thread for other threads (`GET /metrics`).
    private let openCount = NSLock()
    private var openConnectionsValue = 0
    public var openConnections: Int { openCount.lock(); defer { openCount.unlock() }; return openConnectionsValue }
    private func publishOpenConnections() { openCount.lock(); openConnectionsValue = connections.count; openCount.unlock() }

    // Loop-thread state.
    private var connections: [Int32: Connection] = [:]
    private var nextConnectionID: UInt64 = 1
    private var draining = false
    private var drainDeadline: Double = 0
    /// One receive buffer for the loop thread, reused for every read.
    private var readBuffer = [UInt8](repeating: 0, count: 65536)

    // Shared with handler threads.
    private let lock = NSLock()
    private var completions: [(fd: Int32, id: UInt64, bytes: [UInt8], close: Bool, stream: (any HTTPBodyStream)?)] = []
    /// Streamed responses that signalled new bytes (or their end) since the loop last looked.
    private var readyStreams: [(fd: Int32, id: UInt64)] = []
    private var shutdownRequested = false
    private var shutdownGrace: Double = 10

    /// The bound port (useful with port 0).
    public private(set) var port: Int = 0

    public init(configuration: ServerConfiguration, responder: any HTTPResponder) {
        self.configuration = configuration
        self.responder = responder
        self.pool = HandlerPool(threads: configuration.handlerThreads, name: "http-handler")
    }

    /// Binds, listens and starts the event loop thread.
    public func start() throws {
        let fd = try Self.bind(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        listener = fd
        var addr = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = Int(Self.port(of: addr))
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard epoll >= 0, wakeFD >= 0 else { throw ServerError("epoll setup failed: errno \(nm_errno())") }
        register(listener, events: NM_EPOLLIN)
        register(wakeFD, events: NM_EPOLLIN)
        let thread = Thread { [self] in
            self.runLoop()
            self.finished.signal()
        }
        thread.name = "http-event-loop"
        thread.start()
        loopThread = thread
    }

    /// Stops accepting, lets in-flight requests finish (up to `grace` seconds), closes every
    /// connection and returns when the loop and handler threads have ended.
    public func shutdown(grace: Double = 10) {
        lock.lock()
        let already = shutdownRequested
        shutdownRequested = true
        shutdownGrace = grace
        lock.unlock()
        guard !already, loopThread != nil else { return }
        wake()
        finished.wait()
        pool.stop()
        close(epoll)
        close(wakeFD)
    }

    // MARK: - Event loop

    private func runLoop() {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        while true {
            let n = events.withUnsafeMutableBufferPointer { epoll_wait(epoll, $0.baseAddress, 256, 100) }
            let now = monotonicNow()
            if n > 0 {
                for i in 0..<Int(n) {
                    let fd = events[i].data.fd
                    let ev = events[i].events
                    if fd == listener { acceptAll(now: now) }
                    else if fd == wakeFD { drainWake() }
                    else if let c = connections[fd] { handle(c, events: ev, now: now) }
                }
            }
            deliverCompletions(now: now)
            sweepDeadlines(now: now)
            if checkShutdown(now: now) { break }
        }
        for c in Array(connections.values) { closeConnection(c) }
    }

    private func acceptAll(now: Double) {
        while listener >= 0 {
            let fd = nm_accept(listener)
            if fd < 0 { return }  // EAGAIN or a transient error: try on the next event
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if connections.count >= configuration.maxConnections || draining {
                let body = #"{"error":{"code":"unavailable","message":"too many connections"}}"#
                let bytes = HTTPResponseSerializer.serialize(
                    .text(503, body, contentType: "application/json"), keepAlive: false)
                _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, NM_MSG_NOSIGNAL) }
                close(fd)
                continue
            }
            let c = Connection(fd: fd, id: nextConnectionID, limits: configuration.limits, now: now)
            nextConnectionID += 1
            connections[fd] = c
            publishOpenConnections()
            register(fd, events: NM_EPOLLIN | NM_EPOLLRDHUP)
        }
    }

    private func handle(_ c: Connection, events: UInt32, now: Double) {
        if events & (NM_EPOLLERR | NM_EPOLLHUP) != 0 && events & NM_EPOLLIN == 0 {
            closeConnection(c)
            return
        }
        if events & NM_EPOLLOUT != 0 {
            flush(c, now: now)
            if connections[c.fd] !== c { return }
        }
        if events & (NM_EPOLLIN | NM_EPOLLRDHUP) != 0 && c.phase == .reading {
            readAvailable(c, now: now)
        } else if events & (NM_EPOLLIN | NM_EPOLLRDHUP) != 0 && c.phase == .streaming {
            // The client of a stream sends nothing more (the response said Connection: close):
            // input is discarded, and its end ends the stream.
            while true {
                let n = readBuffer.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { continue }
                let e = nm_errno()
                if n < 0 && e == EINTR { continue }
                if n < 0 && (e == EAGAIN || e == EWOULDBLOCK) { break }
                closeConnection(c)
                return
            }
        }
    }

    private func readAvailable(_ c: Connection, now: Double) {
        while true {
            let n = readBuffer.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                if c.requestStarted == nil { c.requestStarted = now }
                c.lastActivity = now
                c.parser.append(readBuffer[0..<n])
                if n < readBuffer.count { break }
                // Do not let one fast client monopolise the loop: parse what we have first.
                if c.parser.bufferedByteCount > configuration.limits.largestBodyBytes + configuration.limits.maxHeaderBytes { break }
                // An upload goes to its sink (a file write and a hash) on this thread: a megabyte
                // at a time, so other connections are served between its pieces.
                if c.parser.isStreamingBody && c.parser.bufferedByteCount >= 1 << 20 { break }
            } else if n == 0 {
                c.peerClosed = true
                break
            } else {
                let e = nm_errno()
                if e == EAGAIN || e == EWOULDBLOCK { break }
                if e == EINTR { continue }
                closeConnection(c)
                return
            }
        }
        processInput(c, now: now)
        if connections[c.fd] === c, c.peerClosed, c.phase == .reading {
            closeConnection(c)
        }
    }

    /// Runs the parser over buffered input and dispatches a complete request.
    private func processInput(_ c: Connection, now: Double) {
        guard c.phase == .reading else { return }
        do {
            if let request = try c.parser.next() {
                dispatch(request, on: c, now: now)
            } else {
                if c.parser.isInsideRequest && c.requestStarted == nil { c.requestStarted = now }
                if c.parser.shouldSendContinue() && !c.peerClosed {
                    c.queue(HTTPResponseSerializer.continueResponse)
                    flush(c, now: now)
                }
            }
        } catch {
            respondAndClose(c, status: error.status, message: error.message, code: error.code, headers: error.headers, now: now)
        }
    }

    private func dispatch(_ request: HTTPRequest, on c: Connection, now: Double) {
        c.phase = .processing
        c.requestStarted = nil
        setReading(c, false)
        let fd = c.fd, id = c.id
        let keepAlive = request.keepAlive
        let responder = self.responder
        pool.submit { [self] in
            let response = responder.respond(to: request)
            let close = !keepAlive || self.isDraining
            let streamed = response.stream != nil && request.method != "HEAD"
            let bytes = streamed ? HTTPResponseSerializer.serializeStreamHead(response)
                                 : HTTPResponseSerializer.serialize(response, headOnly: request.method == "HEAD", keepAlive: !close)
            if !streamed { response.stream?.cancel() }
            self.lock.lock()
            self.completions.append((fd, id, bytes, close || streamed, streamed ? response.stream : nil))
            self.lock.unlock()
            self.wake()
        }
    }

    /// A stream has bytes or ended: the loop reads it on its next turn.
    private func streamReady(fd: Int32, id: UInt64) {
        lock.lock()
        readyStreams.append((fd, id))
        lock.unlock()
        wake()
    }

    private var isDraining: Bool {
        lock.lock(); defer { lock.unlock() }
        return shutdownRequested
    }

    private func deliverCompletions(now: Double) {
        lock.lock()
        let done = completions
        completions.removeAll(keepingCapacity: true)
        lock.unlock()
        for item in done {
            guard let c = connections[item.fd], c.id == item.id else { item.stream?.cancel(); continue }
            c.queue(item.bytes)
            if let stream = item.stream {
                // The head now; the body as the stream produces it, until it ends.
                c.stream = stream
                c.phase = .streaming
                c.lastActivity = now
                let (fd, id) = (c.fd, c.id)
                stream.start { [weak self] in self?.streamReady(fd: fd, id: id) }
                flush(c, now: now)
                continue
            }
            c.closeAfterWrite = item.close || c.peerClosed
            c.phase = .writing
            c.writeStarted = now
            flush(c, now: now)
        }
        lock.lock()
        let ready = readyStreams
        readyStreams.removeAll(keepingCapacity: true)
        lock.unlock()
        for item in ready {
            guard let c = connections[item.fd], c.id == item.id, c.phase == .streaming, let stream = c.stream else { continue }
            let (bytes, finished) = stream.read()
            // lastActivity moves only when the socket takes bytes (flush): a reader that stalls
            // while the stream keeps producing is still dropped after the write timeout.
            if !bytes.isEmpty { c.queue(bytes) }
            if finished { c.closeAfterWrite = true }
            flush(c, now: now)
        }
    }

    /// Writes as much pending output as the socket takes; on completion returns to reading.
    private func flush(_ c: Connection, now: Double) {
        while c.hasPendingOutput {
            let n = c.output.withUnsafeBytes {
                send(c.fd, $0.baseAddress! + c.outputOffset, $0.count - c.outputOffset, NM_MSG_NOSIGNAL)
            }
            if n > 0 {
                c.outputOffset += n
                c.lastActivity = now
            } else {
                let e = nm_errno()
                if n < 0 && e == EINTR { continue }
                if n < 0 && (e == EAGAIN || e == EWOULDBLOCK) {
                    modify(c.fd, events: NM_EPOLLOUT | (c.readingEnabled ? NM_EPOLLIN | NM_EPOLLRDHUP : 0))
                    return
                }
                closeConnection(c)
                return
            }
        }
        c.output = []
        c.outputOffset = 0
        if c.phase == .streaming {
            if c.closeAfterWrite { closeConnection(c); return }
            // Wait for the stream; watch the socket only to learn that the client left.
            modify(c.fd, events: NM_EPOLLIN | NM_EPOLLRDHUP)
            return
        }
        guard c.phase == .writing else {
            // Interim output (100 Continue) sent while reading the body.
            modify(c.fd, events: NM_EPOLLIN | NM_EPOLLRDHUP)
            return
        }
        if c.closeAfterWrite {
            closeConnection(c)
            return
        }
        c.phase = .reading
        c.writeStarted = nil
        c.lastActivity = now
        if c.parser.bufferedByteCount > 0 { c.requestStarted = now }
        setReading(c, true)
        processInput(c, now: now)  // a pipelined request may already be buffered
    }

    private func respondAndClose(_ c: Connection, status: Int, message: String, code given: String? = nil,
                                 headers: [String: String] = [:], now: Double) {
        let code: String
        switch given.map({ _ in 0 }) ?? status {
        case 0: code = given!
        case 401: code = "unauthenticated"
        case 403: code = "forbidden"
        case 507: code = "insufficient_storage"
        case 408: code = "request_timeout"
        case 413: code = "payload_too_large"
        case 414: code = "uri_too_long"
        case 417: code = "expectation_failed"
        case 431: code = "headers_too_large"
        case 501: code = "not_implemented"
        case 505: code = "http_version_not_supported"
        default: code = "bad_request"
        }
        let escaped = message.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        let body = "{\"error\":{\"code\":\"\(code)\",\"message\":\"\(escaped)\"}}"
        var response = HTTPResponse.text(status, body, contentType: "application/json")
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { response.headers.set(name, value) }
        c.queue(HTTPResponseSerializer.serialize(response, keepAlive: false))
        c.closeAfterWrite = true
        c.phase = .writing
        c.writeStarted = now
        setReading(c, false)
        flush(c, now: now)
    }

    private func sweepDeadlines(now: Double) {
        for c in Array(connections.values) {
            switch c.phase {
            case .reading:
                if c.parser.isIdle {
                    if now - c.lastActivity > configuration.idleTimeout || draining { closeConnection(c) }
                    continue
                }
                let started = c.requestStarted ?? c.lastActivity
                if c.parser.isStreamingBody {
                    // An upload may take long; it must keep moving.
                    if now - c.lastActivity > configuration.bodyTimeout {
                        respondAndClose(c, status: 408, message: "request body stalled for \(Int(configuration.bodyTimeout)) s", now: now)
                    }
                } else if !c.parser.isReadingBody && now - started > configuration.headerTimeout {
                    respondAndClose(c, status: 408, message: "request header section not received in time", now: now)
                } else if now - started > configuration.headerTimeout + configuration.bodyTimeout {
                    respondAndClose(c, status: 408, message: "request body not received in time", now: now)
                }
            case .writing:
                if now - c.lastActivity > configuration.writeTimeout { closeConnection(c) }
            case .streaming:
                // A client that stops reading a stream is dropped like a stalled write; draining
                // ends streams at once.
                if (c.hasPendingOutput && now - c.lastActivity > configuration.writeTimeout) || draining { closeConnection(c) }
            case .processing:
                break
            }
        }
    }

    /// Returns true when the loop should end.
    private func checkShutdown(now: Double) -> Bool {
        lock.lock()
        let requested = shutdownRequested
        let grace = shutdownGrace
        lock.unlock()
        guard requested else { return false }
        if !draining {
            draining = true
            drainDeadline = now + grace
            epoll_ctl(epoll, EPOLL_CTL_DEL, listener, nil)
            close(listener)
            listener = -1
        }
        for c in Array(connections.values) where c.phase == .reading && c.parser.isIdle {
            closeConnection(c)
        }
        return connections.isEmpty || now > drainDeadline
    }

    // MARK: - Helpers

    private func setReading(_ c: Connection, _ on: Bool) {
        guard c.readingEnabled != on else { return }
        c.readingEnabled = on
        modify(c.fd, events: on ? NM_EPOLLIN | NM_EPOLLRDHUP : (c.hasPendingOutput ? NM_EPOLLOUT : 0))
    }

    private func closeConnection(_ c: Connection) {
        guard connections[c.fd] === c else { return }
        connections[c.fd] = nil
        c.stream?.cancel()
        c.stream = nil
        c.parser.abandon()  // a streamed upload cut short leaves nothing behind
        publishOpenConnections()
        epoll_ctl(epoll, EPOLL_CTL_DEL, c.fd, nil)
        close(c.fd)
    }

    private func register(_ fd: Int32, events: UInt32) {
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = fd
        epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev)
    }

    private func modify(_ fd: Int32, events: UInt32) {
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = fd
        epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &ev)
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private func drainWake() {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, 8)
    }

    private func monotonicNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
