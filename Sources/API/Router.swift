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
///
/// Templates are compiled when added: a route is only tried against paths with its number of
/// segments, literal segments compare octet for octet without copying, and path segments are
/// percent-decoded only when they hold an escape. Routes are tried in the order they were added.
public struct Router: Sendable {
    public typealias Handler = @Sendable (RequestContext) throws -> HTTPResponse

    public struct Route: Sendable {
        public var method: String
        public var template: String
        public var access: RouteAccess
        public var bodyCap: BodyCap
        let handler: Handler
    }

    /// A template segment: text that must equal the path's, or a named parameter (non-empty).
    private enum Piece: Sendable {
        case literal(String)
        case parameter(String)
    }

    /// A literal segment to check: its position in the path and its bytes in `literalBytes`.
    private struct LiteralCheck: Sendable {
        let position: Int
        let start: Int
        let count: Int
    }

    public private(set) var routes: [Route] = []
    private var pieces: [[Piece]] = []
    /// Per route: its literal segments, last first (where templates of one length differ most),
    /// and the positions of its parameters.
    private var literalChecks: [[LiteralCheck]] = []
    private var parameterPositions: [[Int]] = []
    private var literalBytes: [UInt8] = []
    /// Route indexes by number of segments (the array's index), in the order added.
    private var bySegmentCount: [[Int]] = []

    public init() {}

    /// Adds a route. `access` defaults to `read` for GET and `write` for every other method.
    public mutating func add(_ method: String, _ template: String, access: RouteAccess? = nil, body: BodyCap = .standard,
                             _ handler: @escaping Handler) {
        let segments = template.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        while bySegmentCount.count <= segments.count { bySegmentCount.append([]) }
        bySegmentCount[segments.count].append(routes.count)
        let compiled: [Piece] = segments.map { t in
            t.count >= 2 && t.hasPrefix("{") && t.hasSuffix("}") ? .parameter(String(t.dropFirst().dropLast())) : .literal(t)
        }
        pieces.append(compiled)
        var checks: [LiteralCheck] = [], parameters: [Int] = []
        for (position, piece) in compiled.enumerated().reversed() {
            switch piece {
            case .literal(let text):
                checks.append(LiteralCheck(position: position, start: literalBytes.count, count: text.utf8.count))
                literalBytes += text.utf8
            case .parameter:
                parameters.append(position)
            }
        }
        literalChecks.append(checks)
        parameterPositions.append(parameters)
        routes.append(Route(method: method, template: template, access: access ?? .needs(method == "GET" ? .read : .write),
                            bodyCap: body, handler: handler))
    }

    public enum Match {
        case found(Route, [String: String])
        case methodNotAllowed([String])
        case notFound
    }

    public func match(method: String, path: String) -> Match {
        guard let decoded = Self.segments(of: path) else { return .notFound }
        switch find(method: method, segments: decoded) {
        case .route(let index):
            var parameters: [String: String] = [:]
            for (piece, segment) in zip(pieces[index], decoded) {
                if case .parameter(let name) = piece { parameters[name] = String(segment) }
            }
            return .found(routes[index], parameters)
        case .methods(let allowed):
            if allowed.isEmpty { return .notFound }
            return .methodNotAllowed(allowed.contains("GET") ? allowed + ["HEAD"] : allowed)
        }
    }

    /// The body cap of the route a request reaches (nil: none), without building its parameters:
    /// what the HTTP layer asks of every request's head.
    public func bodyCap(method: String, path: String) -> BodyCap? {
        guard let decoded = Self.segments(of: path), case .route(let index) = find(method: method, segments: decoded) else { return nil }
        return routes[index].bodyCap
    }

    private enum Found {
        case route(Int)
        /// No route for the method; the methods of the routes the path reaches.
        case methods([String])
    }

    private func find(method: String, segments decoded: [Substring]) -> Found {
        guard decoded.count < bySegmentCount.count else { return .methods([]) }
        let effective = method == "HEAD" ? "GET" : method
        var allowed: [String] = []
        for index in bySegmentCount[decoded.count] where binds(index, decoded) {
            if routes[index].method == effective { return .route(index) }
            allowed.append(routes[index].method)
        }
        return .methods(allowed)
    }

    /// The segments after the first "/", each percent-decoded; nil when an escape is malformed.
    private static func segments(of path: String) -> [Substring]? {
        var decoded: [Substring] = []
        decoded.reserveCapacity(8)
        let bytes = path.utf8
        var pieceStart = bytes.startIndex, first = true, i = bytes.startIndex
        while true {
            let end = i == bytes.endIndex
            if end || bytes[i] == UInt8(ascii: "/") {
                if !first {
                    let piece = path[pieceStart..<i]
                    if piece.utf8.contains(UInt8(ascii: "%")) {
                        guard let d = HTTPRequest.percentDecode(String(piece)) else { return nil }
                        decoded.append(Substring(d))
                    } else {
                        decoded.append(piece)
                    }
                }
                first = false
                if end { break }
                pieceStart = bytes.index(after: i)
            }
            i = bytes.index(after: i)
        }
        return decoded
    }

    /// Whether route `index` accepts the path's segments (as many as its template has, checked by
    /// the caller): each literal octet for octet, as RFC 3986 compares paths; parameters non-empty.
    private func binds(_ index: Int, _ path: [Substring]) -> Bool {
        literalBytes.withUnsafeBufferPointer { pool in
            for check in literalChecks[index] {
                let segment = path[check.position].utf8
                guard segment.count == check.count else { return false }
                guard check.count > 0 else { continue }
                let literal = UnsafeBufferPointer(rebasing: pool[check.start..<(check.start + check.count)])
                let same = segment.withContiguousStorageIfAvailable { memcmp($0.baseAddress!, literal.baseAddress!, check.count) == 0 }
                    ?? segment.elementsEqual(literal)
                if !same { return false }
            }
            for position in parameterPositions[index] where path[position].isEmpty { return false }
            return true
        }
    }
}
