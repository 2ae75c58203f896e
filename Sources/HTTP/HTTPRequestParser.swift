import Foundation

/// An incremental, strict HTTP/1.1 request parser (RFC 9112).
///
/// Feed it bytes as they arrive with ``append(_:)``, then call ``next()`` until it returns nil.
/// It never traps on any input: malformed or oversized input throws ``HTTPParseError`` carrying
/// the status to answer with, after which the connection must be closed.
public struct HTTPRequestParser: Sendable {
    public let limits: HTTPLimits

    private enum State: Sendable {
        case requestLine
        case headers
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
    }

    private var state: State = .requestLine
    private var buffer: [UInt8] = []
    private var start = 0            // first unconsumed byte in buffer
    private var scanFrom = 0         // where to resume looking for CRLF
    private var leadingEmptyLines = 0

    // The request being assembled.
    private var method = ""
    private var target = ""
    private var version = HTTPVersion.http11
    private var headers = HTTPHeaders()
    private var headerBytes = 0
    private var body: [UInt8] = []
    private var bodyLimit = 0
    /// Where this request's body goes when it streams; `sinkBytes` were written to it so far.
    private var sink: (any HTTPBodySink)?
    private var sinkBytes = 0
    private var continueAnswered = false
    private var expectsContinue = false

    public init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
    }

    /// Bytes received but not yet consumed by a complete request.
    public var bufferedByteCount: Int { buffer.count - start }

    /// True while no byte of a next request has been seen (safe point to close an idle connection).
    public var isIdle: Bool {
        if case .requestLine = state { return bufferedByteCount == 0 }
        return false
    }

    /// True after the header section, while the body is being received.
    public var isReadingBody: Bool {
        switch state {
        case .fixedBody, .chunkSize, .chunkData, .chunkDataEnd, .trailers: return true
        default: return false
        }
    }

    /// True while a body is being written to a sink (its deadline is progress, not completion).
    public var isStreamingBody: Bool { sink != nil && isReadingBody }

    /// The connection is closing before this request completed: a streamed body's sink is
    /// aborted (nothing half-written stays behind). Safe to call at any time.
    public mutating func abandon() {
        sink?.abort()
        sink = nil
        sinkBytes = 0
    }

    /// True once the request line has been read and the request is not complete yet.
    public var isInsideRequest: Bool {
        if case .requestLine = state { return false }
        return true
    }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if start > 0 && (start >= 65536 || start * 2 >= buffer.count) {
            buffer.removeSubrange(0..<start)
            scanFrom -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Returns true exactly once per request when the client sent `Expect: 100-continue`, the head
    /// was accepted and the body has not arrived yet: the caller should then send `100 Continue`.
    public mutating func shouldSendContinue() -> Bool {
        guard expectsContinue, !continueAnswered else { return false }
        switch state {
        case .fixedBody, .chunkSize, .chunkData, .chunkDataEnd:
            continueAnswered = true
            return bufferedByteCount == 0
        default:
            return false
        }
    }

    /// Parses as far as the buffered bytes allow; returns a request when one is complete.
    public mutating func next() throws(HTTPParseError) -> HTTPRequest? {
        while true {
            switch state {
            case .requestLine:
                guard let line = try takeLine(limit: limits.maxRequestLineBytes, status: 414,
                                              what: "request line") else { return nil }
                if line.isEmpty {
                    // RFC 9112 §2.2: ignore at least one empty line before a request.
                    leadingEmptyLines += 1
                    if leadingEmptyLines > 4 { throw HTTPParseError(400, "unexpected empty lines") }
                    continue
                }
                try parseRequestLine(line)
                state = .headers
            case .headers:
                let remaining = limits.maxHeaderBytes - headerBytes
                guard let line = try takeLine(limit: max(remaining, 0), status: 431,
                                              what: "header section") else { return nil }
                headerBytes += line.count + 2
                if line.isEmpty {
                    if let request = try finishHead() { return request }
                    continue
                }
                try parseHeaderLine(line)
            case .fixedBody(let remaining):
                let available = buffer.count - start
                let n = min(available, remaining)
                if n > 0 {
                    try take(n)
                }
                if n == remaining { return try finishBody() }
                state = .fixedBody(remaining: remaining - n)
                return nil
            case .chunkSize:
                guard let line = try takeLine(limit: 1024, status: 400, what: "chunk size line") else { return nil }
                let size = try parseChunkSize(line)
                if size == 0 {
                    state = .trailers
                } else {
                    if (sink == nil ? body.count : sinkBytes) + size > bodyLimit {
                        abandon()
                        throw HTTPParseError(413, "request body exceeds \(bodyLimit) bytes")
                    }
                    state = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                let available = buffer.count - start
                let n = min(available, remaining)
                if n > 0 {
                    try take(n)
                }
                if n < remaining {
                    state = .chunkData(remaining: remaining - n)
                    return nil
                }
                state = .chunkDataEnd
            case .chunkDataEnd:
                if buffer.count - start >= 1 && buffer[start] != 13 {
                    throw HTTPParseError(400, "chunk data not followed by CRLF")
                }
                guard buffer.count - start >= 2 else { return nil }
                guard buffer[start] == 13, buffer[start + 1] == 10 else {
                    throw HTTPParseError(400, "chunk data not followed by CRLF")
                }
                start += 2
                scanFrom = start
                state = .chunkSize
            case .trailers:
                let remaining = limits.maxHeaderBytes - headerBytes
                guard let line = try takeLine(limit: max(remaining, 0), status: 431,
                                              what: "trailer section") else { return nil }
                headerBytes += line.count + 2
                if line.isEmpty { return try finishBody() }
                // Trailer fields are checked for syntax and then dropped.
                _ = try splitField(line)
            }
        }
    }

    // MARK: - Pieces

    /// Takes one CRLF-terminated line (without CRLF), or nil when more bytes are needed.
    private mutating func takeLine(limit: Int, status: Int, what: String) throws(HTTPParseError) -> ArraySlice<UInt8>? {
        var i = max(scanFrom, start)
        let end = buffer.count
        while i < end {
            // Checked byte by byte, so the answer never depends on how the bytes were segmented
            // (found by the fuzzer: a bare LF past the limit gave 400 whole and 414 in pieces).
            if i - start > limit + 1 { throw HTTPParseError(status, "\(what) too long") }
            let c = buffer[i]
            if c == 10 {
                guard i > start, buffer[i - 1] == 13 else {
                    throw HTTPParseError(400, "bare LF in \(what)")
                }
                if i - 1 - start > limit { throw HTTPParseError(status, "\(what) too long") }
                let line = buffer[start..<(i - 1)]
                start = i + 1
                scanFrom = start
                return line
            }
            if c == 13, i + 1 < end, buffer[i + 1] != 10 {
                throw HTTPParseError(400, "bare CR in \(what)")
            }
            i += 1
        }
        // No length check here: every byte seen was checked in the loop, and a CR at the end is
        // judged (bare or not) only once the next byte arrives — as when the bytes come at once.
        scanFrom = max(start, end - 1)
        return nil
    }

    private mutating func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) {
        let parts = line.split(separator: 32, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw HTTPParseError(400, "malformed request line") }
        let m = parts[0], t = parts[1], v = parts[2]
        guard !m.isEmpty, m.allSatisfy(isTokenChar) else { throw HTTPParseError(400, "invalid method") }
        guard !t.isEmpty, t.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw HTTPParseError(400, "invalid request target")
        }
        guard v.count == 8, v.starts(with: Array("HTTP/".utf8)),
              let major = digit(v[v.startIndex + 5]), v[v.startIndex + 6] == UInt8(ascii: "."),
              let minor = digit(v[v.startIndex + 7]) else {
            throw HTTPParseError(400, "invalid HTTP version")
        }
        guard major == 1 else { throw HTTPParseError(505, "only HTTP/1.x is supported") }
        method = String(decoding: m, as: UTF8.self)
        target = String(decoding: t, as: UTF8.self)
        let first = t.first!
        if first != UInt8(ascii: "/") && !(target == "*" && method == "OPTIONS") && !target.contains("://") {
            throw HTTPParseError(400, "invalid request target")
        }
        version = HTTPVersion(major: major, minor: min(minor, 1))
    }

    private mutating func parseHeaderLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) {
        if headers.fields.count >= limits.maxHeaderCount {
            throw HTTPParseError(431, "more than \(limits.maxHeaderCount) header fields")
        }
        let (name, value) = try splitField(line)
        headers.add(name, value)
    }

    private func splitField(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (String, String) {
        if let f = line.first, f == 32 || f == 9 {
            throw HTTPParseError(400, "obsolete line folding is not accepted")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw HTTPParseError(400, "header field without colon")
        }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenChar) else {
            throw HTTPParseError(400, "invalid header field name")
        }
        var value = line[(colon + 1)...]
        while let f = value.first, f == 32 || f == 9 { value.removeFirst() }
        while let l = value.last, l == 32 || l == 9 { value.removeLast() }
        guard value.allSatisfy({ $0 == 9 || ($0 >= 32 && $0 != 127) }) else {
            throw HTTPParseError(400, "invalid character in header field value")
        }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    /// Decides the body framing once the header section has ended.
    private mutating func finishHead() throws(HTTPParseError) -> HTTPRequest? {
        let hosts = headers.values("Host")
        if version == .http11 && hosts.count != 1 {
            throw HTTPParseError(400, hosts.isEmpty ? "missing Host header" : "more than one Host header")
        }
        let expect = headers.values("Expect")
        if !expect.isEmpty {
            guard expect.count == 1, expect[0].caseInsensitiveEquals("100-continue") else {
                throw HTTPParseError(417, "only Expect: 100-continue is supported")
            }
            expectsContinue = version == .http11
        }
        bodyLimit = limits.maxBodyBytes
        // The path as routing will see it (origin- or absolute-form alike).
        let path = HTTPRequest.splitTarget(target).0
        if let perRoute = limits.bodyLimit {
            bodyLimit = min(perRoute(method, path), limits.largestBodyBytes)
        }
        if let destination = limits.bodyDestination {
            switch destination(method, path, headers) {
            case .memory: break
            case .sink(let s, let maxBytes):
                sink = s
                sinkBytes = 0
                bodyLimit = maxBytes
            case .refuse(let error):
                throw error
            }
        }
        let te = headers.tokens("Transfer-Encoding")
        let cl = headers.values("Content-Length")
        if !te.isEmpty {
            guard cl.isEmpty else { abandon(); throw HTTPParseError(400, "both Transfer-Encoding and Content-Length") }
            guard version == .http11 else { abandon(); throw HTTPParseError(400, "Transfer-Encoding in HTTP/1.0") }
            guard te == ["chunked"] else {
                abandon()
                throw HTTPParseError(501, "unsupported Transfer-Encoding (only chunked)")
            }
            state = .chunkSize
            return nil
        }
        if !cl.isEmpty {
            var length: Int?
            for raw in cl {
                for piece in raw.split(separator: ",", omittingEmptySubsequences: false) {
                    let s = piece.trimmingASCIIWhitespace()
                    guard !s.isEmpty, s.utf8.count <= 18, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                          let n = Int(s) else {
                        abandon()
                        throw HTTPParseError(400, "invalid Content-Length")
                    }
                    if let l = length, l != n { abandon(); throw HTTPParseError(400, "conflicting Content-Length values") }
                    length = n
                }
            }
            let n = length ?? 0
            if n > bodyLimit {
                abandon()
                throw HTTPParseError(413, "request body of \(n) bytes exceeds \(bodyLimit)")
            }
            if n > 0 {
                if sink == nil { body.reserveCapacity(n) }
                state = .fixedBody(remaining: n)
                return nil
            }
        }
        return try finishBody()
    }

    /// Moves `n` buffered body bytes into the body (or its sink).
    private mutating func take(_ n: Int) throws(HTTPParseError) {
        if let sink {
            let from = start
            let failure = buffer.withUnsafeBytes { all -> HTTPParseError? in
                do throws(HTTPParseError) { try sink.write(UnsafeRawBufferPointer(rebasing: all[from..<from + n])); return nil } catch { return error }
            }
            if let failure {
                abandon()
                throw failure
            }
            sinkBytes += n
        } else {
            body.append(contentsOf: buffer[start..<start + n])
        }
        start += n
        scanFrom = start
    }

    /// The body ended: a sink is finished (and travels with the request).
    private mutating func finishBody() throws(HTTPParseError) -> HTTPRequest {
        if let sink {
            do { try sink.finish() } catch { abandon(); throw error }
        }
        return complete()
    }

    private func parseChunkSize(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        var digits = line
        if let semi = line.firstIndex(of: UInt8(ascii: ";")) { digits = line[line.startIndex..<semi] }
        while let l = digits.last, l == 32 || l == 9 { digits.removeLast() }
        guard !digits.isEmpty, digits.count <= 8 else { throw HTTPParseError(400, "invalid chunk size") }
        var n = 0
        for c in digits {
            guard let v = hexValue(c) else { throw HTTPParseError(400, "invalid chunk size") }
            n = n << 4 | Int(v)
        }
        return n
    }

    private mutating func complete() -> HTTPRequest {
        var request = HTTPRequest(method: method, target: target, version: version,
                                  headers: headers, body: Data(body))
        request.bodySink = sink
        sink = nil
        sinkBytes = 0
        state = .requestLine
        headers = HTTPHeaders()
        headerBytes = 0
        body = []
        expectsContinue = false
        continueAnswered = false
        leadingEmptyLines = 0
        return request
    }
}

@inline(__always) private func digit(_ c: UInt8) -> Int? {
    (c >= 48 && c <= 57) ? Int(c - 48) : nil
}

/// RFC 9110 tchar.
@inline(__always) func isTokenChar(_ c: UInt8) -> Bool {
    switch c {
    case 48...57, 65...90, 97...122: return true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
         UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
         UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        return true
    default: return false
    }
}
