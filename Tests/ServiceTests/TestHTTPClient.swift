import Foundation
import Support
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// A response as read off the socket.
struct TestResponse {
    var status: Int
    var headers: [(String, String)]
    var body: Data

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var json: JSONValue? { JSONValue.parse(body) }

    /// `json["a"]["b"]`-style access for assertions.
    subscript(_ path: String...) -> JSONValue? {
        var v = json
        for p in path {
            if case .object(let o)? = v { v = o[p] } else if case .array(let a)? = v, let i = Int(p), i < a.count { v = a[i] } else { return nil }
        }
        return v
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

extension JSONValue {
    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var number: Double? { if case .number(let d) = self { return d } else { return nil } }
    var int: Int? { number.map { Int($0) } }
    var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    /// An object's member (nil for other values).
    subscript(_ key: String) -> JSONValue? { if case .object(let o) = self { return o[key] } else { return nil } }
}

enum TestClientError: Error { case connect(Int32), closed, timeout, malformed(String) }

/// A small blocking HTTP/1.1 client over a raw socket, so tests control every byte and can
/// reuse, pipeline, stall or abandon connections.
final class TestHTTPClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, host: String = "127.0.0.1", timeout: Double = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); throw TestClientError.connect(errno) }
        setTimeout(timeout)
    }

    deinit { close(fd) }

    func setTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - floor(seconds)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func sendRaw(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestClientError.closed }
            off += n
        }
    }

    func sendRaw(_ text: String) throws { try sendRaw(Array(text.utf8)) }

    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: Data? = nil) throws -> TestResponse {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: test\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\nContent-Type: application/json\r\n" }
        head += "\r\n"
        try sendRaw(Array(head.utf8) + (body.map(Array.init) ?? []))
        return try readResponse(headRequest: method == "HEAD")
    }

    func json(_ method: String, _ path: String, _ body: String? = nil, headers: [(String, String)] = []) throws -> TestResponse {
        try request(method, path, headers: headers, body: body.map { Data($0.utf8) })
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n == 0 { throw TestClientError.closed }
        if n < 0 { throw errno == EAGAIN || errno == EWOULDBLOCK ? TestClientError.timeout : TestClientError.closed }
        buffer.append(contentsOf: chunk[0..<n])
    }

    /// True when the server has closed the connection (reads EOF within `timeout`).
    func isClosedByPeer(timeout: Double = 2) -> Bool {
        setTimeout(timeout)
        var b: UInt8 = 0
        return recv(fd, &b, 1, 0) == 0
    }

    func readResponse(headRequest: Bool = false) throws -> TestResponse {
        var headEnd: Int?
        while headEnd == nil {
            if let r = findCRLFCRLF() { headEnd = r; break }
            try fill()
        }
        let headText = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0] == "HTTP/1.1", let status = Int(parts[1]) else {
            throw TestClientError.malformed(statusLine)
        }
        var headers: [(String, String)] = []
        for l in lines {
            guard let c = l.firstIndex(of: ":") else { throw TestClientError.malformed(l) }
            headers.append((String(l[..<c]), l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)))
        }
        let response = TestResponse(status: status, headers: headers, body: Data())
        if status == 100 { return try readResponse(headRequest: headRequest) }
        let noBody = headRequest || status == 204 || status == 304
        let length = noBody ? 0 : Int(response.header("Content-Length") ?? "0") ?? 0
        while buffer.count < length { try fill() }
        var r = response
        r.body = Data(buffer[0..<length])
        buffer.removeFirst(length)
        return r
    }

    /// Reads an interim `100 Continue` response (and nothing else).
    func readInterim() throws -> Int {
        while findCRLFCRLF() == nil { try fill() }
        let end = findCRLFCRLF()!
        let line = String(decoding: buffer[0..<end], as: UTF8.self)
        buffer.removeFirst(end + 4)
        return Int(line.split(separator: " ")[1]) ?? 0
    }

    private func findCRLFCRLF() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}
