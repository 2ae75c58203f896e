import Foundation
import HTTP

/// What a handler sees: the request and the decoded path parameters.
public struct RequestContext: Sendable {
    public var request: HTTPRequest
    public var parameters: [String: String]

    public func parameter(_ name: String) -> String { parameters[name] ?? "" }
}

/// Matches method + path templates like `/v1/runs/{run_id}`; HEAD is served by GET routes.
public struct Router: Sendable {
    public typealias Handler = @Sendable (RequestContext) throws -> HTTPResponse

    public struct Route: Sendable {
        public var method: String
        public var template: String
        let segments: [String]
        let handler: Handler
    }

    public private(set) var routes: [Route] = []

    public init() {}

    public mutating func add(_ method: String, _ template: String, _ handler: @escaping Handler) {
        let segments = template.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        routes.append(Route(method: method, template: template, segments: segments, handler: handler))
    }

    public enum Match {
        case found(Handler, [String: String])
        case methodNotAllowed([String])
        case notFound
    }

    public func match(method: String, path: String) -> Match {
        let raw = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var decoded: [String] = []
        for piece in raw {
            guard let d = HTTPRequest.percentDecode(String(piece)) else { return .notFound }
            decoded.append(d)
        }
        var allowed: [String] = []
        for route in routes {
            guard let params = Self.bind(route.segments, decoded) else { continue }
            let effective = method == "HEAD" ? "GET" : method
            if route.method == effective { return .found(route.handler, params) }
            allowed.append(route.method)
        }
        if allowed.isEmpty { return .notFound }
        if allowed.contains("GET") { allowed.append("HEAD") }
        return .methodNotAllowed(allowed)
    }

    private static func bind(_ template: [String], _ path: [String]) -> [String: String]? {
        guard template.count == path.count else { return nil }
        var params: [String: String] = [:]
        for (t, p) in zip(template, path) {
            if t.hasPrefix("{") && t.hasSuffix("}") {
                guard !p.isEmpty else { return nil }
                params[String(t.dropFirst().dropLast())] = p
            } else if t != p {
                return nil
            }
        }
        return params
    }
}
