import XCTest
@testable import HTTP

final class HTTPRequestParserTests: XCTestCase {
    private func parseAll(_ text: String, limits: HTTPLimits = HTTPLimits()) throws -> [HTTPRequest] {
        var p = HTTPRequestParser(limits: limits)
        p.append(Array(text.utf8))
        var out: [HTTPRequest] = []
        while let r = try p.next() { out.append(r) }
        return out
    }

    private func expectError(_ text: String, status: Int, limits: HTTPLimits = HTTPLimits(),
                             file: StaticString = #filePath, line: UInt = #line) {
        var p = HTTPRequestParser(limits: limits)
        p.append(Array(text.utf8))
        do {
            while try p.next() != nil {}
            XCTFail("expected \(status), parsed fine", file: file, line: line)
        } catch {
            XCTAssertEqual(error.status, status, error.message, file: file, line: line)
        }
    }

    /// Per-route caps: the prediction route takes a body the default limit would refuse; other
    /// routes still get 413, for fixed-length and chunked bodies alike.
    func testPerRouteBodyLimits() throws {
        var limits = HTTPLimits(maxBodyBytes: 10)
        limits.routeBodyCeiling = 100
        limits.bodyLimit = { method, path in method == "POST" && path.hasSuffix("/predict") ? 100 : 10 }
        let body = String(repeating: "x", count: 50)
        let ok = try parseAll("POST /v1/models/m/predict?alias=a HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n\(body)", limits: limits)
        XCTAssertEqual(ok.first?.body.count, 50)
        expectError("POST /v1/experiments HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n\(body)", status: 413, limits: limits)
        expectError("POST /v1/models/m/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n", status: 413, limits: limits)
        expectError("POST /v1/runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n\(body)\r\n0\r\n\r\n",
                    status: 413, limits: limits)
        // A route cap above the ceiling is clamped to it.
        limits.bodyLimit = { _, _ in 1_000_000 }
        expectError("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n", status: 413, limits: limits)
    }

    /// Fuzzer finding: a bare LF beyond the request-line limit gave 400 when the bytes came at
    /// once and 414 when they came in pieces. Now the same status however the bytes arrive.
    func testLimitErrorsDoNotDependOnSegmentation() throws {
        // Second finding: a bare CR exactly at the limit gave 400 at once and 414 byte by byte.
        try expectSameStatus("GET /" + String(repeating: "a", count: 252) + "\rXY", 400)
        try expectSameStatus("POST /" + String(repeating: "a", count: 300) + "\n", 414)
    }

    private func expectSameStatus(_ text: String, _ status: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        var limits = HTTPLimits()
        limits.maxRequestLineBytes = 256
        var statuses: Set<Int> = []
        for cut in [1, 7, 64, 400] {
            var p = HTTPRequestParser(limits: limits)
            let bytes = Array(text.utf8)
            var offset = 0
            do {
                while offset < bytes.count {
                    p.append(bytes[offset..<min(bytes.count, offset + cut)])
                    offset += cut
                    while try p.next() != nil {}
                }
            } catch { statuses.insert(error.status) }
        }
        XCTAssertEqual(statuses, [status], file: file, line: line)
    }

    func testSimpleGet() throws {
        let rs = try parseAll("GET /v1/runs?state=queued&limit=2 HTTP/1.1\r\nHost: x\r\nX-A:  b \r\n\r\n")
        XCTAssertEqual(rs.count, 1)
        XCTAssertEqual(rs[0].method, "GET")
        XCTAssertEqual(rs[0].path, "/v1/runs")
        XCTAssertEqual(rs[0].queryValue("state"), "queued")
        XCTAssertEqual(rs[0].queryValue("limit"), "2")
        XCTAssertEqual(rs[0].headers["x-a"], "b")
        XCTAssertTrue(rs[0].keepAlive)
    }

    func testKeepAliveRules() throws {
        XCTAssertFalse(try parseAll("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0].keepAlive)
        XCTAssertFalse(try parseAll("GET / HTTP/1.0\r\n\r\n")[0].keepAlive)
        XCTAssertTrue(try parseAll("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")[0].keepAlive)
    }

    func testPipelinedRequestsAndBodies() throws {
        let text = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
        let rs = try parseAll(text)
        XCTAssertEqual(rs.map(\.path), ["/a", "/b", "/c"])
        XCTAssertEqual(String(decoding: rs[0].body, as: UTF8.self), "hello")
        XCTAssertTrue(rs[1].body.isEmpty)
        XCTAssertEqual(String(decoding: rs[2].body, as: UTF8.self), "abcde")
    }

    /// The same bytes split at every possible point must parse to the same requests.
    func testEverySplitPointGivesTheSameResult() throws {
        let text = "POST /x?q=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n"
            + "PUT /y HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
        let bytes = Array(text.utf8)
        let reference = try parseAll(text)
        XCTAssertEqual(reference.count, 2)
        for split in 0...bytes.count {
            var p = HTTPRequestParser()
            var got: [HTTPRequest] = []
            p.append(bytes[0..<split])
            while let r = try p.next() { got.append(r) }
            p.append(bytes[split...])
            while let r = try p.next() { got.append(r) }
            XCTAssertEqual(got.map(\.path), reference.map(\.path), "split at \(split)")
            XCTAssertEqual(got.map(\.body), reference.map(\.body), "split at \(split)")
        }
        // And byte by byte.
        var p = HTTPRequestParser()
        var got: [HTTPRequest] = []
        for b in bytes {
            p.append([b])
            while let r = try p.next() { got.append(r) }
        }
        XCTAssertEqual(got.map(\.body), reference.map(\.body))
    }

    func testLimits() {
        var small = HTTPLimits()
        small.maxRequestLineBytes = 64
        small.maxHeaderBytes = 128
        small.maxHeaderCount = 3
        small.maxBodyBytes = 10
        expectError("GET /\(String(repeating: "a", count: 100)) HTTP/1.1\r\nHost: x\r\n\r\n", status: 414, limits: small)
        // Too long even before the line ends.
        expectError("GET /\(String(repeating: "a", count: 100))", status: 414, limits: small)
        expectError("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", status: 431, limits: small)
        expectError("GET / HTTP/1.1\r\nHost: x\r\nA: \(String(repeating: "v", count: 200))\r\n\r\n", status: 431, limits: small)
        // The declared length is refused before any body byte arrives.
        expectError("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", status: 413, limits: small)
        expectError("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n", status: 413, limits: small)
    }

    func testMalformedInputIsRejectedWithTheRightStatus() {
        expectError("GET / HTTP/1.1\nHost: x\n\n", status: 400)                       // bare LF
        expectError("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", status: 400)     // obs-fold
        expectError("GET / HTTP/1.1\r\nHost : x\r\n\r\n", status: 400)               // space before colon
        expectError("GET / HTTP/1.1\r\n\r\n", status: 400)                            // no Host
        expectError("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400)     // two Hosts
        expectError("GET / HTTP/2.0\r\nHost: x\r\n\r\n", status: 505)
        expectError("GET / HTTX/1.1\r\nHost: x\r\n\r\n", status: 400)
        expectError("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", status: 400)
        expectError("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", status: 400)
        expectError("GET nopath HTTP/1.1\r\nHost: x\r\n\r\n", status: 400)
        expectError("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400)
        expectError("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", status: 400)
        expectError("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", status: 400)
        expectError("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", status: 501)
        expectError("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", status: 400)
        expectError("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naX", status: 400)
        expectError("GET / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n", status: 417)
        expectError("GET / HTTP/1.1\r\nHost: x\r\nBad: a\u{01}b\r\n\r\n", status: 400)
    }

    func testExpectContinueIsSignalledOnce() throws {
        var p = HTTPRequestParser()
        p.append(Array("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8))
        XCTAssertNil(try p.next())
        XCTAssertTrue(p.shouldSendContinue())
        XCTAssertFalse(p.shouldSendContinue())
        p.append(Array("ok".utf8))
        XCTAssertEqual(try p.next()?.body, Data("ok".utf8))
    }

    func testAbsoluteFormTarget() throws {
        let r = try parseAll("GET http://example.com/v1/healthz?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")[0]
        XCTAssertEqual(r.path, "/v1/healthz")
        XCTAssertEqual(r.query, "x=1")
    }

    /// Random and mutated input never traps; every failure is a status in 4xx/5xx.
    func testRandomAndMutatedBytesNeverCrash() {
        var seed: UInt64 = 0x1234_5678
        func next() -> UInt64 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return seed >> 33
        }
        let valid = Array("POST /v1/experiments HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".utf8)
        let alphabet = Array("\r\n :;-0123456789abcdefGHPOST/HTTP1.chunked".utf8)
        for i in 0..<20_000 {
            var input: [UInt8]
            if i % 2 == 0 {
                input = (0..<Int(next() % 200)).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }
            } else {
                input = valid
                for _ in 0..<Int(1 + next() % 4) {
                    let pos = Int(next() % UInt64(input.count))
                    switch next() % 3 {
                    case 0: input[pos] = UInt8(truncatingIfNeeded: next())
                    case 1: input.remove(at: pos)
                    default: input.insert(UInt8(truncatingIfNeeded: next()), at: pos)
                    }
                }
            }
            var p = HTTPRequestParser()
            var offset = 0
            do {
                while offset < input.count {
                    let n = min(input.count - offset, Int(1 + next() % 16))
                    p.append(input[offset..<offset + n])
                    offset += n
                    while try p.next() != nil {}
                }
            } catch {
                XCTAssertTrue((400..<600).contains(error.status))
            }
        }
    }
}
