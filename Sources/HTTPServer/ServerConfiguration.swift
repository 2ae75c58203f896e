import HTTP

/// Everything that bounds what one client can cost the server.
public struct ServerConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (see ``HTTPServer/port``).
    public var port: Int = 8080
    public var limits = HTTPLimits()
    /// Open connections beyond this are answered 503 and closed.
    public var maxConnections = 1024
    /// Threads that run request handlers (I/O stays on the event loop thread).
    public var handlerThreads = 4
    /// The whole header section must arrive within this many seconds of its first byte (slowloris).
    public var headerTimeout: Double = 10
    /// The body must arrive within this many seconds of the end of the header section; a body
    /// streamed to a sink (an upload) must instead never stall this long.
    public var bodyTimeout: Double = 30
    /// A keep-alive connection with no request in flight is closed after this many seconds.
    public var idleTimeout: Double = 60
    /// A response the client does not read within this many seconds is abandoned.
    public var writeTimeout: Double = 30
    /// `listen()` backlog.
    public var backlog: Int32 = 1024

    public init() {}
}

/// Errors from setting up the listening socket.
public struct ServerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
