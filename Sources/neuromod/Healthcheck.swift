import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Healthcheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 when the local service answers GET /v1/healthz with 200 (for container HEALTHCHECK).")

    @Option(help: "Address of the service (env NEUROMOD_HOST, default 127.0.0.1).") var host: String?
    @Option(help: "Port of the service (env NEUROMOD_PORT, default 8080).") var port: Int?
    @Option(help: "Seconds to wait for the answer.") var timeout: Int = 3

    func run() throws {
        var h = Setting.string(host, "NEUROMOD_HOST", "127.0.0.1")
        if h == "0.0.0.0" { h = "127.0.0.1" }
        if h == "::" { h = "::1" }
        let p = try Setting.int(port, "NEUROMOD_PORT", 8080)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(h, String(p), &hints, &res) == 0, let ai = res else { throw ExitCode(1) }
        defer { freeaddrinfo(res) }
        let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
        guard fd >= 0 else { throw ExitCode(1) }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            print("unhealthy: cannot connect to \(h):\(p)")
            throw ExitCode(1)
        }
        let request = "GET /v1/healthz HTTP/1.1\r\nHost: \(h)\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var buf = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &buf, buf.count, 0)
        let head = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
        guard head.hasPrefix("HTTP/1.1 200") else {
            print("unhealthy: \(head.split(separator: "\r\n").first ?? "no answer")")
            throw ExitCode(1)
        }
        print("healthy")
    }
}
