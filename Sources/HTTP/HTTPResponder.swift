/// Answers complete requests. A server calls it on handler threads, never on its I/O loop.
public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPRequest) -> HTTPResponse
}
