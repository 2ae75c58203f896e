/// Size limits the parser enforces; each breach maps to its own status code.
public struct HTTPLimits: Sendable {
    /// Longest request line in bytes (414 beyond).
    public var maxRequestLineBytes: Int = 8 * 1024
    /// Largest header section in bytes, all fields together (431 beyond).
    public var maxHeaderBytes: Int = 32 * 1024
    /// Most header fields (431 beyond).
    public var maxHeaderCount: Int = 100
    /// Largest request body in bytes, however framed (413 beyond, refused before reading it).
    public var maxBodyBytes: Int = 1 << 20
    /// Per-route body caps: given the method and path, the largest body that route takes (it
    /// replaces `maxBodyBytes`; never above `largestBodyBytes`). nil: `maxBodyBytes` everywhere.
    public var bodyLimit: (@Sendable (_ method: String, _ path: String) -> Int)?
    /// The most any route may take (bounds what a connection buffers).
    public var largestBodyBytes: Int { max(maxBodyBytes, routeBodyCeiling) }
    /// The largest value `bodyLimit` returns.
    public var routeBodyCeiling: Int = 0
    /// Routes whose body streams to a sink instead of memory: given the head (method, path,
    /// headers), where its body goes. nil: every body is buffered. A streamed body's cap is the
    /// sink's own and does not count toward `largestBodyBytes` (nothing of it is buffered).
    public var bodyDestination: (@Sendable (_ method: String, _ path: String, _ headers: HTTPHeaders) -> HTTPBodyDestination)?

    public init(maxRequestLineBytes: Int = 8 * 1024, maxHeaderBytes: Int = 32 * 1024,
                maxHeaderCount: Int = 100, maxBodyBytes: Int = 1 << 20) {
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}

/// Why a request could not be parsed; `status` is the response to send before closing.
public struct HTTPParseError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    /// The error's code in the JSON answer (nil: one derived from the status).
    public var code: String?
    /// Header fields the answer carries (e.g. `WWW-Authenticate` on a 401).
    public var headers: [String: String]
    public init(_ status: Int, _ message: String, code: String? = nil, headers: [String: String] = [:]) {
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers
    }
}
