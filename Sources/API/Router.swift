import Foundation
import HTTP

/// What a handler sees: the request and the decoded path parameters.
public struct RequestContext: Sendable {
    public var request: HTTPRequest
    public var parameters: [String: String]

    public func parameter(_ name: String) -> String { parameters[name] ?? "" }
}

/// Who may call a route: anyone (liveness, readiness), a `read` token, or a `write` token.
public enum RouteAccess: Sendable, Equatable {
    case open
    case needs(Authenticator.Scope)
}

/// Which request body cap applies to a route (the sizes are the server's configuration).
public enum BodyCap: Sendable, Equatable {
    /// `--max-body-bytes` (default 1 MiB).
    case standard
    /// `--max-predict-body-bytes` (default 16 MiB): batches of images as JSON or binary tensors.
    case predictions
    /// A file upload streamed to disk, never buffered (`--max-dataset-bytes`, default 2 GiB).
    case upload
}

/// Matches method + path templates like `/v1/runs/{run_id}`; HEAD is served by GET routes.
/// Each route declares, where it is registered, who may call it and which body cap it takes.
public struct Router: Sendable {
    public typealias Handler = @Sendable (RequestContext) throws -> HTTPResponse

    public struct Route: Sendable {
        public var method: String
        public var template: String
        public var access: RouteAccess
        public var bodyCap: BodyCap
        let segments: [String]
        let handler: Handler
    }

    public private(set) var routes: [Route] = []

    public init() {}

    /// Adds a route. `access` defaults to `read` for GET and `write` for every other method.
    public mutating func add(_ method: String, _ template: String, access: RouteAccess? = nil, body: BodyCap = .standard,
                             _ handler: @escaping Handler) {
        let segments = template.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        routes.append(Route(method: method, template: template, access: access ?? .needs(method == "GET" ? .read : .write),
                            bodyCap: body, segments: segments, handler: handler))
    }

    public enum Match {
        case found(Route, [String: String])
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
            if route.method == effective { return .found(route, params) }
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
