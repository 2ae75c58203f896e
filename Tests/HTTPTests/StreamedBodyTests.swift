import Foundation
import XCTest
@testable import HTTP

/// A sink that records what the parser does with it.
final class RecordingSink: HTTPBodySink, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var bytes: [UInt8] = []
    private(set) var finished = 0
    private(set) var aborted = 0
    var failAfter: Int?

    func write(_ chunk: UnsafeRawBufferPointer) throws(HTTPParseError) {
        lock.lock(); defer { lock.unlock() }
        if let limit = failAfter, bytes.count + chunk.count > limit { throw HTTPParseError(507, "no space left") }
        bytes += chunk
    }
    func finish() throws(HTTPParseError) { lock.lock(); finished += 1; lock.unlock() }
    func abort() { lock.lock(); aborted += 1; lock.unlock() }
}

/// Bodies streamed to a sink (uploads): the same bytes however they arrive, limits before the body,
/// and an abort — exactly once — whenever the request cannot complete.
final class StreamedBodyTests: XCTestCase {
    private func limits(_ make: @escaping @Sendable () -> HTTPBodyDestination) -> HTTPLimits {
        var l = HTTPLimits(maxBodyBytes: 16)
        l.bodyDestination = { method, path, _ in method == "POST" && path == "/upload" ? make() : .memory }
        return l
    }

    func testABodyReachesTheSinkWhole_FixedAndChunked_SplitAnywhere() throws {
        let body = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let fixed = Array("POST /upload?name=x HTTP/1.1\r\nHost: h\r\nContent-Length: 3000\r\n\r\n".utf8) + body
        var chunked = Array("POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        for piece in [body[0..<1000], body[1000..<1001], body[1001...]] {
            chunked += Array(String(piece.count, radix: 16).utf8) + [13, 10] + piece + [13, 10]
        }
        chunked += Array("0\r\n\r\n".utf8)
        let next = Array("GET /after HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
        for message in [fixed, chunked] {
            for step in [1, 7, 500, message.count] {
                let sink = RecordingSink()
                var p = HTTPRequestParser(limits: limits { .sink(sink, maxBytes: 10_000) })
                var requests: [HTTPRequest] = []
                var i = 0
                let all = message + next
                while i < all.count {
                    p.append(all[i..<min(i + step, all.count)])
                    i += step
                    while let r = try p.next() { requests.append(r) }
                }
                XCTAssertEqual(requests.map(\.path), ["/upload", "/after"])
                XCTAssertEqual(sink.bytes, body, "step \(step)")
                XCTAssertEqual(sink.finished, 1)
                XCTAssertEqual(sink.aborted, 0)
                XCTAssertTrue(requests[0].body.isEmpty, "nothing of it in memory")
                XCTAssertTrue(requests[0].bodySink === sink)
                XCTAssertNil(requests[1].bodySink)
                XCTAssertFalse(p.isStreamingBody)
            }
        }
    }

    func testLimitsAndRefusalsComeBeforeTheBodyAndAbortTheSink() throws {
        // The sink's cap, not the buffered one (16 bytes), applies, and a declared length over it is a 413 at once.
        let sink = RecordingSink()
        var p = HTTPRequestParser(limits: limits { .sink(sink, maxBytes: 100) })
        p.append(Array("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n".utf8))
        XCTAssertThrowsError(try p.next()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 413) }
        XCTAssertEqual(sink.aborted, 1)
        XCTAssertTrue(sink.bytes.isEmpty)
        // Chunked past the cap: 413 when the chunk that crosses it is announced.
        let sink2 = RecordingSink()
        var q = HTTPRequestParser(limits: limits { .sink(sink2, maxBytes: 100) })
        q.append(Array("POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n".utf8) + [UInt8](repeating: 1, count: 80) + Array("\r\n50\r\n".utf8))
        XCTAssertThrowsError(try q.next()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 413) }
        XCTAssertEqual(sink2.aborted, 1)
        // Refused from the head alone (no token, no room): nothing read, the status kept.
        var r = HTTPRequestParser(limits: limits { .refuse(HTTPParseError(507, "the data-set quota is full")) })
        r.append(Array("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello".utf8))
        XCTAssertThrowsError(try r.next()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 507) }
        // A write that fails (a full disk) ends the request with its status and aborts.
        let sink3 = RecordingSink()
        sink3.failAfter = 10
        var s = HTTPRequestParser(limits: limits { .sink(sink3, maxBytes: 100) })
        s.append(Array("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\n".utf8) + [UInt8](repeating: 2, count: 20))
        XCTAssertThrowsError(try s.next()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 507) }
        XCTAssertEqual(sink3.aborted, 1)
        XCTAssertEqual(sink3.finished, 0)
        // Malformed chunk framing mid-body aborts too (the server then closes the connection).
        let sink4 = RecordingSink()
        var t = HTTPRequestParser(limits: limits { .sink(sink4, maxBytes: 100) })
        t.append(Array("POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX".utf8))
        XCTAssertThrowsError(try t.next())
        t.abandon()
        XCTAssertEqual(sink4.aborted, 1, "aborted once, however many times the request is given up")
    }

    func testAConnectionThatEndsMidBodyLeavesNothing() throws {
        let sink = RecordingSink()
        var p = HTTPRequestParser(limits: limits { .sink(sink, maxBytes: 1000) })
        p.append(Array("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 500\r\n\r\n".utf8) + [UInt8](repeating: 3, count: 200))
        XCTAssertNil(try p.next())
        XCTAssertTrue(p.isStreamingBody)
        XCTAssertEqual(sink.bytes.count, 200, "written as it arrives, not held")
        p.abandon()
        XCTAssertEqual(sink.aborted, 1)
        XCTAssertEqual(sink.finished, 0)
        XCTAssertFalse(p.isStreamingBody)
        // Routes without a sink are buffered as before (and keep their own cap).
        var m = HTTPRequestParser(limits: limits { .sink(RecordingSink(), maxBytes: 1000) })
        m.append(Array("POST /other HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello".utf8))
        XCTAssertEqual(try m.next()?.body, Data("hello".utf8))
        var big = HTTPRequestParser(limits: limits { .sink(RecordingSink(), maxBytes: 1000) })
        big.append(Array("POST /other HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n".utf8))
        XCTAssertThrowsError(try big.next()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 413) }
    }
}
