import Foundation
import HTTP

/// Per-connection state owned by the event loop thread.
final class Connection {
    enum Phase {
        /// Waiting for (more of) a request.
        case reading
        /// A handler is working on a request; input is not read meanwhile.
        case processing
        /// Sending a response.
        case writing
        /// Sending a streamed body as it is produced (Server-Sent Events), until it ends.
        case streaming
    }

    let fd: Int32
    let id: UInt64
    var parser: HTTPRequestParser
    var phase: Phase = .reading
    var output: [UInt8] = []
    var outputOffset = 0
    /// Close once the output is flushed.
    var closeAfterWrite = false
    /// When the current request's first byte arrived (nil while idle between requests).
    var requestStarted: Double?
    var lastActivity: Double
    var writeStarted: Double?
    /// Whether EPOLLIN is currently in the interest set.
    var readingEnabled = true
    var peerClosed = false
    /// The body being streamed (phase `streaming`).
    var stream: (any HTTPBodyStream)?

    init(fd: Int32, id: UInt64, limits: HTTPLimits, now: Double) {
        self.fd = fd
        self.id = id
        self.parser = HTTPRequestParser(limits: limits)
        self.lastActivity = now
    }

    var hasPendingOutput: Bool { outputOffset < output.count }

    func queue(_ bytes: [UInt8]) {
        if outputOffset == output.count {
            output = bytes
            outputOffset = 0
        } else {
            output.append(contentsOf: bytes)
        }
    }
}
