import Foundation
import Support
import RESTClient

/// A small S3 client (path-style addressing, Signature Version 4 on every request) over libcurl:
/// bucket creation, whole-object PUT, GET of an object or a byte range, HEAD, DELETE.
public final class S3Client: @unchecked Sendable {
    public let endpoint: String
    public let bucket: String
    let signer: SigV4
    let http: RESTClient
    private let host: String

    /// `endpoint` like `http://127.0.0.1:8333` (no path); the bucket goes in the path.
    public init(endpoint: String, bucket: String, region: String, credentials: SigV4.Credentials, timeoutSeconds: Int = 60) throws {
        guard let url = URL(string: endpoint), let h = url.host, url.scheme == "http" || url.scheme == "https" else {
            throw S3Error(status: 0, code: "InvalidEndpoint", message: "not an http(s) endpoint: \(endpoint)")
        }
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.bucket = bucket
        signer = SigV4(credentials: credentials, region: region, service: "s3")
        http = RESTClient(baseURL: self.endpoint, token: nil, timeoutSeconds: timeoutSeconds)
        host = url.port.map { "\(h):\($0)" } ?? h
    }

    /// Creates the bucket; one that already exists and is ours is fine.
    public func createBucket() throws {
        let r = try send("PUT", key: nil, body: nil)
        if r.status == 200 || (r.status == 409 && Self.errorCode(r.body) == "BucketAlreadyOwnedByYou") { return }
        throw Self.error(r)
    }

    public func put(_ key: String, _ data: Data) throws {
        let r = try send("PUT", key: key, body: data)
        guard r.status == 200 else { throw Self.error(r) }
    }

    /// The object, or the bytes `range` of it (a 206 answer).
    public func get(_ key: String, range: ClosedRange<Int>? = nil) throws -> Data {
        let r = try send("GET", key: key, body: nil, extra: range.map { ["Range": "bytes=\($0.lowerBound)-\($0.upperBound)"] } ?? [:])
        guard r.status == 200 || r.status == 206 else { throw Self.error(r) }
        return r.body
    }

    /// The object's size, or nil when there is none.
    public func size(_ key: String) throws -> Int? {
        let r = try send("HEAD", key: key, body: nil)
        if r.status == 404 { return nil }
        guard r.status == 200 else { throw S3Error(status: r.status, code: "HTTP\(r.status)", message: "HEAD \(key)") }
        return r.headers["content-length"].flatMap { Int($0) }
    }

    public func delete(_ key: String) throws {
        let r = try send("DELETE", key: key, body: nil)
        guard r.status == 204 || r.status == 200 else { throw Self.error(r) }
    }

    private func send(_ method: String, key: String?, body: Data?, extra: [String: String] = [:]) throws -> RESTClient.Response {
        // Path-style: /bucket/key, each segment percent-encoded once, the same in the URL and the signature.
        let path = "/" + ([bucket] + (key.map { $0.split(separator: "/", omittingEmptySubsequences: false).map(String.init) } ?? []))
            .map(SigV4.encode).joined(separator: "/")
        let payloadHash = body.map { SHA256.hex($0) } ?? SigV4.emptyPayloadHash
        var headers = extra
        headers["Host"] = host
        let signed = signer.sign(method: method, path: path, headers: headers.map { ($0.key, $0.value) }, payloadHash: payloadHash, date: Date(),
                                 pathIsEncoded: true)
        for (k, v) in signed { headers[k] = v }
        if body != nil { headers["Content-Type"] = "application/octet-stream" }
        return try http.send(method, path, body: body, headers: headers)
    }

    static func errorCode(_ body: Data) -> String? {
        let text = String(decoding: body, as: UTF8.self)
        guard let a = text.range(of: "<Code>"), let b = text.range(of: "</Code>", range: a.upperBound..<text.endIndex) else { return nil }
        return String(text[a.upperBound..<b.lowerBound])
    }

    static func error(_ r: RESTClient.Response) -> S3Error {
        let text = String(decoding: r.body, as: UTF8.self)
        var message = text
        if let a = text.range(of: "<Message>"), let b = text.range(of: "</Message>", range: a.upperBound..<text.endIndex) {
            message = String(text[a.upperBound..<b.lowerBound])
        }
        return S3Error(status: r.status, code: errorCode(r.body) ?? "HTTP\(r.status)", message: String(message.prefix(500)))
    }
}

/// An S3 error answer (or a refused endpoint): the HTTP status, S3's error code and message.
public struct S3Error: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String
    public var description: String { "\(code) (\(status)): \(message)" }
    public var isNotFound: Bool { status == 404 }
}
