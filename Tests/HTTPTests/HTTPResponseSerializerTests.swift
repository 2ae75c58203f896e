import XCTest
@testable import HTTP

final class HTTPResponseSerializerTests: XCTestCase {
    func testHeadAndBodyInOneBuffer() {
        var r = HTTPResponse.text(200, "hi")
        r.headers.add("X-Evil", "a\r\nInjected: yes")
        let text = String(decoding: HTTPResponseSerializer.serialize(r, keepAlive: true, date: "D"), as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        XCTAssertTrue(text.contains("Content-Length: 2\r\n"))
        XCTAssertTrue(text.contains("X-Evil: aInjected: yes\r\n"), "CR/LF in values must not split headers")
        XCTAssertFalse(text.contains("Connection: close"))
        XCTAssertTrue(text.hasSuffix("\r\n\r\nhi"))
    }

    func testHeadRequestsGetLengthButNoBody() {
        let text = String(decoding: HTTPResponseSerializer.serialize(.text(200, "hello"), headOnly: true, keepAlive: false), as: UTF8.self)
        XCTAssertTrue(text.contains("Content-Length: 5\r\n"))
        XCTAssertTrue(text.contains("Connection: close\r\n"))
        XCTAssertTrue(text.hasSuffix("\r\n\r\n"))
    }

    func testNoBodyStatuses() {
        let text = String(decoding: HTTPResponseSerializer.serialize(HTTPResponse(status: 304), keepAlive: true), as: UTF8.self)
        XCTAssertFalse(text.contains("Content-Length"))
    }

    func testDateFormat() {
        XCTAssertEqual(HTTPDate.format(Date(timeIntervalSince1970: 784111777)), "Sun, 06 Nov 1994 08:49:37 GMT")
    }
}
