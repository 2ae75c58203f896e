import XCTest
import API
import HTTP

/// The router on its own: which route a method and path reach, with which parameters.
final class RouterTests: XCTestCase {
    private func router() -> Router {
        var r = Router()
        let ok: Router.Handler = { _ in HTTPResponse.text(200, "") }
        r.add("GET", "/v1/runs", ok)
        r.add("POST", "/v1/runs", ok)
        r.add("GET", "/v1/runs/{run_id}", ok)
        r.add("DELETE", "/v1/runs/{run_id}", ok)
        r.add("GET", "/v1/runs/summary", ok)                       // after the parameter route: never reached by GET
        r.add("POST", "/v1/models/{name}/predict", body: .predictions, ok)
        r.add("GET", "/v1/models/{name}/versions/{version}", ok)
        r.add("GET", "/", ok)
        return r
    }

    private func found(_ m: Router.Match) -> (String, String, [String: String])? {
        if case .found(let route, let parameters) = m { return (route.method, route.template, parameters) }
        return nil
    }

    func testLiteralAndParameterSegments() {
        let r = router()
        XCTAssertEqual(found(r.match(method: "GET", path: "/v1/runs"))?.1, "/v1/runs")
        XCTAssertEqual(found(r.match(method: "POST", path: "/v1/runs"))?.0, "POST")
        let run = found(r.match(method: "GET", path: "/v1/runs/r_12"))
        XCTAssertEqual(run?.1, "/v1/runs/{run_id}")
        XCTAssertEqual(run?.2, ["run_id": "r_12"])
        // Routes are tried in the order added: the parameter route answers first.
        XCTAssertEqual(found(r.match(method: "GET", path: "/v1/runs/summary"))?.2, ["run_id": "summary"])
        let version = found(r.match(method: "GET", path: "/v1/models/fm/versions/3"))
        XCTAssertEqual(version?.2, ["name": "fm", "version": "3"])
        let predict = r.match(method: "POST", path: "/v1/models/fm/predict")
        if case .found(let route, _) = predict { XCTAssertEqual(route.bodyCap, .predictions) } else { XCTFail("\(predict)") }
        XCTAssertEqual(found(r.match(method: "GET", path: "/"))?.1, "/")
        // The body cap alone, as the HTTP layer asks for it from a request's head.
        XCTAssertEqual(r.bodyCap(method: "POST", path: "/v1/models/fm/predict"), .predictions)
        XCTAssertEqual(r.bodyCap(method: "POST", path: "/v1/runs"), .standard)
        XCTAssertNil(r.bodyCap(method: "GET", path: "/v1/models/fm/predict"))
        XCTAssertNil(r.bodyCap(method: "POST", path: "/v1/models/fm/predict/x"))
        XCTAssertNil(r.bodyCap(method: "POST", path: "/v1/models/%zz/predict"))
    }

    func testHeadIsServedByGet() {
        XCTAssertEqual(found(router().match(method: "HEAD", path: "/v1/runs/x"))?.0, "GET")
    }

    func testEscapesAreDecodedPerSegment() {
        let r = router()
        // An escaped slash stays inside its segment; an escaped literal still matches the literal.
        XCTAssertEqual(found(r.match(method: "GET", path: "/v1/runs/a%2Fb"))?.2, ["run_id": "a/b"])
        XCTAssertEqual(found(r.match(method: "GET", path: "/v1/%72uns"))?.1, "/v1/runs")
        XCTAssertEqual(found(r.match(method: "GET", path: "/v1/runs/caf%C3%A9"))?.2, ["run_id": "café"])
        guard case .notFound = r.match(method: "GET", path: "/v1/runs/%zz") else { return XCTFail("malformed escape") }
        guard case .notFound = r.match(method: "GET", path: "/v1/runs/%C3") else { return XCTFail("not UTF-8") }
        // "+" is not a space in a path.
        XCTAssertEqual(found(r.match(method: "GET", path: "/v1/runs/a+b"))?.2, ["run_id": "a+b"])
    }

    func testNoMatchAndWrongMethod() {
        let r = router()
        for path in ["/v1/runs/", "/v1/run", "/v1/runs/x/y", "/v1//predict", "/v1/models//predict", "/v2/runs"] {
            guard case .notFound = r.match(method: "GET", path: path) else { return XCTFail(path) }
        }
        guard case .methodNotAllowed(let allowed) = r.match(method: "PUT", path: "/v1/runs/x") else { return XCTFail() }
        XCTAssertEqual(allowed, ["GET", "DELETE", "HEAD"])
        guard case .methodNotAllowed(let onlyPost) = r.match(method: "GET", path: "/v1/models/fm/predict") else { return XCTFail() }
        XCTAssertEqual(onlyPost, ["POST"])
    }

    func testTargetsAndDecoding() {
        XCTAssertEqual(HTTPRequest(method: "GET", target: "/a/b?x=1").path, "/a/b")
        // An origin-form target whose query holds "://" keeps its path.
        let r = HTTPRequest(method: "GET", target: "/v1/runs?next=http://x/y")
        XCTAssertEqual(r.path, "/v1/runs")
        XCTAssertEqual(r.queryValue("next"), "http://x/y")
        XCTAssertEqual(HTTPRequest(method: "GET", target: "http://host:8080/v1/runs?x=1").path, "/v1/runs")
        XCTAssertEqual(HTTPRequest.percentDecode("plain"), "plain")
        XCTAssertEqual(HTTPRequest.percentDecode("a+b", plusIsSpace: true), "a b")
        XCTAssertEqual(HTTPRequest.percentDecode("a+b"), "a+b")
        XCTAssertNil(HTTPRequest.percentDecode("%4"))
    }
}
