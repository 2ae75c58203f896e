import Foundation

/// A fully received HTTP/1.x request.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target exactly as sent (origin-form, absolute-form or `*`).
    public var target: String
    /// The path part of the target, still percent-encoded.
    public var path: String
    /// The raw query string (without `?`), or empty.
    public var query: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: Data
    /// The sink a streamed body was written to (``HTTPLimits/bodyDestination``); `body` is then empty.
    public var bodySink: (any HTTPBodySink)?

    public init(method: String, target: String, version: HTTPVersion = .http11,
                headers: HTTPHeaders = HTTPHeaders(), body: Data = Data()) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        (self.path, self.query) = HTTPRequest.splitTarget(target)
    }

    /// Whether the connection may carry another request after this one.
    public var keepAlive: Bool {
        let tokens = headers.tokens("Connection")
        if tokens.contains("close") { return false }
        if version == .http10 { return tokens.contains("keep-alive") }
        return true
    }

    /// Decoded query parameters in order (`+` is a space; percent-escapes decoded).
    public var queryItems: [(name: String, value: String)] {
        guard !query.isEmpty else { return [] }
        return query.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = HTTPRequest.percentDecode(String(pieces[0]), plusIsSpace: true) ?? String(pieces[0])
            let raw = pieces.count > 1 ? String(pieces[1]) : ""
            return (name, HTTPRequest.percentDecode(raw, plusIsSpace: true) ?? raw)
        }
    }

    /// The first value of a query parameter.
    public func queryValue(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }

    static func splitTarget(_ target: String) -> (String, String) {
        var rest = Substring(target)
        // absolute-form: scheme://authority/path?query (origin-form, the usual one, starts with "/")
        if rest.utf8.first != UInt8(ascii: "/"), let schemeEnd = rest.range(of: "://") {
            rest = rest[schemeEnd.upperBound...]
            if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) {
                rest = rest[slash...]
            } else {
                rest = ""
            }
        }
        if let q = rest.firstIndex(of: "?") {
            let p = rest[..<q]
            return (p.isEmpty ? "/" : String(p), String(rest[rest.index(after: q)...]))
        }
        return (rest.isEmpty ? "/" : String(rest), "")
    }

    /// Decodes `%XX` escapes; nil when an escape is malformed or the result is not UTF-8.
    public static func percentDecode(_ s: String, plusIsSpace: Bool = false) -> String? {
        if !s.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) {
            return s  // nothing to decode (the text is already valid UTF-8)
        }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%") {
                guard let h = it.popFirst(), let l = it.popFirst(),
                      let hv = hexValue(h), let lv = hexValue(l) else { return nil }
                out.append(hv << 4 | lv)
            } else if plusIsSpace && c == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else {
                out.append(c)
            }
        }
        return String(validating: out, as: UTF8.self)
    }
}

@inline(__always) func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 48...57: return c - 48
    case 65...70: return c - 55
    case 97...102: return c - 87
    default: return nil
    }
}

/// An HTTP protocol version.
public struct HTTPVersion: Sendable, Equatable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public static let http10 = HTTPVersion(major: 1, minor: 0)
    public static let http11 = HTTPVersion(major: 1, minor: 1)
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }
    public var description: String { "HTTP/\(major).\(minor)" }
}
