import XCTest
import API
import HTTP
import HTTPServer
#if canImport(Glibc)
import Glibc
#endif

/// A responder for exercising the server itself: echoes the request; `/slow` takes 500 ms.
struct EchoResponder: HTTPResponder {
    func respond(to request: HTTPRequest) -> HTTPResponse {
        if request.path == "/slow" { Thread.sleep(forTimeInterval: 0.5) }
        var h = HTTPHeaders()
        h.set("X-Method", request.method)
        h.set("X-Path", request.path)
        return HTTPResponse(status: 200, headers: h, body: request.body.isEmpty ? Data("ok".utf8) : request.body)
    }
}

final class HTTPServerTests: XCTestCase {
    func startServer(_ configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> HTTPServer {
        var config = ServerConfiguration()
        config.port = 0
        configure(&config)
        let server = HTTPServer(configuration: config, responder: EchoResponder())
        try server.start()
        return server
    }

    func testKeepAliveServesManyRequestsOnOneConnection() throws {
        let server = try startServer()
        defer { server.shutdown() }
        let c = try TestHTTPClient(port: server.port)
        for i in 0..<50 {
            let r = try c.request("POST", "/echo\(i)", body: Data("body\(i)".utf8))
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.text, "body\(i)")
            XCTAssertNil(r.header("Connection"))
        }
        let last = try c.request("GET", "/bye", headers: [("Connection", "close")])
        XCTAssertEqual(last.header("Connection"), "close")
        XCTAssertTrue(c.isClosedByPeer())
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        let server = try startServer()
        defer { server.shutdown() }
        let c = try TestHTTPClient(port: server.port)
        try c.sendRaw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nPOST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz")
        XCTAssertEqual(try c.readResponse().header("X-Path"), "/slow")
        XCTAssertEqual(try c.readResponse().header("X-Path"), "/b")
        XCTAssertEqual(try c.readResponse().text, "xyz")
    }

    func testChunkedBodyAndHead() throws {
        let server = try startServer()
        defer { server.shutdown() }
        let c = try TestHTTPClient(port: server.port)
        try c.sendRaw("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        XCTAssertEqual(try c.readResponse().text, "hello world")
        let head = try c.request("HEAD", "/h")
        XCTAssertEqual(head.header("Content-Length"), "2")
        XCTAssertTrue(head.body.isEmpty)
        XCTAssertEqual(try c.request("GET", "/after-head").text, "ok", "no stray body bytes after HEAD")
    }

    func testExpectContinue() throws {
        let server = try startServer()
        defer { server.shutdown() }
        let c = try TestHTTPClient(port: server.port)
        try c.sendRaw("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        XCTAssertEqual(try c.readInterim(), 100)
        try c.sendRaw("data")
        XCTAssertEqual(try c.readResponse().text, "data")
    }

    /// The service's per-route caps over a socket: a 3 MB prediction body is read (and answered by
    /// the route: no such model), a 3 MB experiment body is refused with 413 before it is sent.
    func testPredictionRoutesTakeLargerBodiesThanTheRest() throws {
        let service = try ServiceHarness(workers: 1, transport: .socket, configure: {
            $0.limits.maxBodyBytes = 1 << 20
            $0.limits.routeBodyCeiling = 16 << 20
        })
        defer { service.stop() }
        let row = "[" + Array(repeating: "0.5", count: 784).joined(separator: ",") + "]"
        let big = #"{"inputs": ["# + Array(repeating: row, count: 1000).joined(separator: ",") + "]}"
        XCTAssertGreaterThan(big.utf8.count, 3_000_000)
        let c = try service.socketClient()
        let predicted = try c.json("POST", "/v1/models/nothing/predict", big)
        XCTAssertEqual(predicted.status, 404, "read in full and routed: \(predicted.text.prefix(200))")
        let refused = try service.socketClient()
        try refused.sendRaw("POST /v1/experiments HTTP/1.1\r\nHost: x\r\nContent-Length: \(big.utf8.count)\r\n\r\n")
        XCTAssertEqual(try refused.readResponse().status, 413)
    }

    func testLimitsAnswerTheRightStatusBeforeReadingTheBody() throws {
        let server = try startServer { $0.limits.maxBodyBytes = 1000 }
        defer { server.shutdown() }
        // 413 for a declared length over the limit, with no body byte sent.
        let c = try TestHTTPClient(port: server.port)
        try c.sendRaw("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 413)
        XCTAssertEqual(r["error", "code"]?.string, "payload_too_large")
        XCTAssertTrue(c.isClosedByPeer())
        // Expect: 100-continue with an oversized body gets 413 instead of 100.
        let e = try TestHTTPClient(port: server.port)
        try e.sendRaw("POST /big HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
        XCTAssertEqual(try e.readResponse().status, 413)
        let u = try TestHTTPClient(port: server.port)
        try u.sendRaw("GET /\(String(repeating: "u", count: 9000)) HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try u.readResponse().status, 414)
        let h = try TestHTTPClient(port: server.port)
        try h.sendRaw("GET / HTTP/1.1\r\nHost: x\r\n" + (0..<200).map { "X-\($0): v\r\n" }.joined() + "\r\n")
        XCTAssertEqual(try h.readResponse().status, 431)
        let bad = try TestHTTPClient(port: server.port)
        try bad.sendRaw("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
        XCTAssertEqual(try bad.readResponse().status, 400)
        // The server still serves normal requests afterwards.
        XCTAssertEqual(try TestHTTPClient(port: server.port).request("GET", "/").status, 200)
    }

    func testSlowClientsGet408AndDoNotBlockOthers() throws {
        let server = try startServer { $0.headerTimeout = 1 }
        defer { server.shutdown() }
        var slow: [TestHTTPClient] = []
        for _ in 0..<100 {
            let s = try TestHTTPClient(port: server.port)
            try s.sendRaw("GET / HTTP/1.1\r\nHo")
            slow.append(s)
        }
        var idle: [TestHTTPClient] = []
        for _ in 0..<300 { idle.append(try TestHTTPClient(port: server.port)) }
        let started = Date()
        XCTAssertEqual(try TestHTTPClient(port: server.port).request("GET", "/fresh").status, 200)
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.5, "a fresh request is answered promptly")
        // Byte-a-second style: keep dribbling, still cut off by the header deadline.
        let dribble = slow[0]
        for b in "st: x\r\nX-A: ".utf8 {
            try? dribble.sendRaw([b])
            Thread.sleep(forTimeInterval: 0.1)
        }
        dribble.setTimeout(5)
        let r = try dribble.readResponse()
        XCTAssertEqual(r.status, 408)
        slow[1].setTimeout(3)
        XCTAssertEqual(try slow[1].readResponse().status, 408)
        XCTAssertTrue(slow[1].isClosedByPeer(timeout: 3))
    }

    func testConnectionCapAnswers503() throws {
        let server = try startServer { $0.maxConnections = 3 }
        defer { server.shutdown() }
        let held = try (0..<3).map { _ in try TestHTTPClient(port: server.port) }
        XCTAssertEqual(try held[0].request("GET", "/").status, 200)
        let extra = try TestHTTPClient(port: server.port)
        let r = try extra.readResponse()
        XCTAssertEqual(r.status, 503)
        XCTAssertTrue(extra.isClosedByPeer())
        XCTAssertEqual(try held[2].request("GET", "/").status, 200, "held connections keep working")
    }

    func testGracefulShutdownFinishesInFlightRequests() throws {
        let server = try startServer()
        let c = try TestHTTPClient(port: server.port)
        let idle = try TestHTTPClient(port: server.port)
        try c.sendRaw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.1)
        let port = server.port
        let stopped = expectation(description: "shutdown returned")
        DispatchQueue.global().async {
            server.shutdown(grace: 5)
            stopped.fulfill()
        }
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Connection"), "close", "draining responses close the connection")
        XCTAssertTrue(idle.isClosedByPeer())
        wait(for: [stopped], timeout: 5)
        XCTAssertThrowsError(try TestHTTPClient(port: port), "no longer accepting")
    }

    func testHostileBytesNeverKillTheServer() throws {
        let server = try startServer()
        defer { server.shutdown() }
        var seed: UInt64 = 99
        for i in 0..<200 {
            let c = try TestHTTPClient(port: server.port, timeout: 2)
            var bytes: [UInt8] = []
            for _ in 0..<(1 + i % 300) {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                bytes.append(UInt8(truncatingIfNeeded: seed >> 40))
            }
            try? c.sendRaw(bytes)
            if i % 3 == 0 { try? c.sendRaw("\r\n\r\n") }
        }
        XCTAssertEqual(try TestHTTPClient(port: server.port).request("GET", "/alive").status, 200)
    }
}
