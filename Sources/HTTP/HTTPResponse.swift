import Foundation

/// A body produced over time (Server-Sent Events): the server writes the head, then whatever
/// ``read()`` returns each time the stream signals, until it reports the end; the connection
/// then closes. No thread waits on a stream: the server's event loop reads it when notified.
public protocol HTTPBodyStream: AnyObject, Sendable {
    /// Called once by the server; the stream calls `notify` (from any thread) whenever it has
    /// bytes to send or has ended.
    func start(notify: @escaping @Sendable () -> Void)
    /// The bytes ready now, and whether the stream has ended (the server's loop thread).
    func read() -> (bytes: [UInt8], finished: Bool)
    /// The connection is gone: stop producing.
    func cancel()
}

/// A response to be serialised; the body is complete in memory, or a ``stream``.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data
    /// A body produced over time after the head (the head is then sent without a length, and the
    /// end of the stream closes the connection).
    public var stream: (any HTTPBodyStream)?

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response whose body is UTF-8 text with the given content type.
    public static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        var h = HTTPHeaders()
        h.set("Content-Type", contentType)
        return HTTPResponse(status: status, headers: h, body: Data(text.utf8))
    }

    /// Whether this status forbids a message body (1xx, 204, 304).
    public var statusForbidsBody: Bool {
        (100..<200).contains(status) || status == 204 || status == 304
    }
}

/// Reason phrases for the status codes this service uses.
public enum HTTPStatus {
    public static func reason(_ code: Int) -> String {
        switch code {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 412: return "Precondition Failed"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 416: return "Range Not Satisfiable"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(code)"
        }
    }
}
