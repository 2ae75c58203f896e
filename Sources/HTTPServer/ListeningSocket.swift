import Foundation
import CSystemShims
#if canImport(Glibc)
import Glibc
#endif

extension HTTPServer {
    /// Creates a non-blocking listening socket for host:port (IPv4 or IPv6, via getaddrinfo).
    static func bind(host: String, port: Int, backlog: Int32) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw ServerError("cannot resolve listen address \(host):\(port): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        var lastError: Int32 = 0
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            defer { ai = a.pointee.ai_next }
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            if fd < 0 { lastError = nm_errno(); continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) != 0 || listen(fd, backlog) != 0 {
                lastError = nm_errno()
                close(fd)
                continue
            }
            _ = nm_set_nonblocking(fd)
            return fd
        }
        throw ServerError("cannot listen on \(host):\(port): \(String(cString: strerror(lastError)))")
    }

    static func port(of addr: sockaddr_storage) -> UInt16 {
        var a = addr
        return withUnsafePointer(to: &a) { p in
            if Int32(addr.ss_family) == AF_INET6 {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }
}
