import Foundation

/// Where a streamed request body goes instead of memory (an upload written to disk as it
/// arrives). The parser writes the body to it in order; once the body is complete the request
/// reaches its handler carrying the sink (``HTTPRequest/bodySink``), and the handler keeps or
/// discards what was written. A request that never completes is ``abort()``ed.
public protocol HTTPBodySink: AnyObject, Sendable {
    /// The next bytes of the body (on the server's event-loop thread: keep it to a buffered write).
    /// A throw ends the request with the error's status (507 for a full disk, say).
    func write(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError)
    /// The whole body has been written.
    func finish() throws(HTTPParseError)
    /// The request will not complete (the connection closed, the framing was malformed, a limit
    /// was hit): remove whatever was written. Called at most once, never after `finish()`.
    func abort()
}

/// What happens to a request's body, decided once its head is known (``HTTPLimits/bodyDestination``).
public enum HTTPBodyDestination: Sendable {
    /// Buffered in memory up to the route's cap (the default).
    case memory
    /// Written to a sink as it arrives, up to `maxBytes`.
    case sink(any HTTPBodySink, maxBytes: Int)
    /// Refused before a byte of the body is read (401, 413, 507…); the connection then closes.
    case refuse(HTTPParseError)
}
