import Foundation
import API
import HTTP

/// What a test talks to the API through: a socket (``TestHTTPClient``) or the router itself
/// (``InMemoryClient``). Handler tests use the in-memory one; socket tests keep the socket where
/// it matters (limits, slow clients, pipelining, shutdown).
protocol APIClient: AnyObject {
    func exchange(_ method: String, _ path: String, headers: [(String, String)], body: Data?) throws -> TestResponse
}

extension APIClient {
    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: Data? = nil) throws -> TestResponse {
        try exchange(method, path, headers: headers, body: body)
    }

    func json(_ method: String, _ path: String, _ body: String? = nil, headers: [(String, String)] = []) throws -> TestResponse {
        try request(method, path, headers: headers, body: body.map { Data($0.utf8) })
    }
}

extension TestHTTPClient: APIClient {
    func exchange(_ method: String, _ path: String, headers: [(String, String)], body: Data?) throws -> TestResponse {
        try request(method, path, headers: headers, body: body)
    }
}

/// Drives the API's router with request values and reads response values: no socket, no parser,
/// the same handlers, auth and error mapping as over HTTP. HEAD answers carry the GET's headers
/// and no body, as the server sends them.
final class InMemoryClient: APIClient {
    let api: ServiceAPI

    init(api: ServiceAPI) { self.api = api }

    func exchange(_ method: String, _ path: String, headers: [(String, String)], body: Data?) throws -> TestResponse {
        var h = HTTPHeaders()
        h.set("Host", "test")
        for (k, v) in headers { h.add(k, v) }
        if let body {
            h.set("Content-Length", String(body.count))
            h.set("Content-Type", "application/json")
        }
        let response = api.respond(to: HTTPRequest(method: method, target: path, headers: h, body: body ?? Data()))
        var out = response.headers.fields.map { ($0.name, $0.value) }
        if !out.contains(where: { $0.0.lowercased() == "content-length" }) && !response.statusForbidsBody {
            out.append(("Content-Length", String(response.body.count)))
        }
        return TestResponse(status: response.status, headers: out, body: method == "HEAD" ? Data() : response.body)
    }
}
