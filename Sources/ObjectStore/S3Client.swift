import Foundation
import Support
import RESTClient

/// A small S3 client (path-style addressing, Signature Version 4 on every request) over libcurl:
/// bucket creation, whole-object PUT, GET of an object or a byte range (into memory or streamed
/// into a file), HEAD, DELETE; multipart uploads (`S3Client+Multipart.swift`) and ListObjectsV2
/// (`S3Client+List.swift`).
///
/// Every request is retried under ``retryPolicy`` when it fails for a reason that may pass
/// (see ``RetryPolicy``), and signed anew for each attempt. Blocking; safe to share across
/// threads (each request uses its own libcurl handle).
public final class S3Client: @unchecked Sendable {
    /// `http://host:port`, no trailing slash.
    public let endpoint: String
    public let bucket: String
    /// How requests that fail for a passing reason are retried.
    public let retryPolicy: RetryPolicy
    /// The per-attempt time limit, in seconds (for downloads into a file: the longest time
    /// without receiving a byte).
    public let timeoutSeconds: Int
    let signer: SigV4
    let http: RESTClient
    private let host: String
    private let counters = RequestCounters()

    /// `endpoint` like `http://127.0.0.1:8333` (no path); the bucket goes in the path.
    public init(endpoint: String, bucket: String, region: String, credentials: SigV4.Credentials, timeoutSeconds: Int = 60,
                retry: RetryPolicy = .default) throws {
        guard let url = URL(string: endpoint), let h = url.host, url.scheme == "http" || url.scheme == "https" else {
            throw S3Error(status: 0, code: "InvalidEndpoint", message: "not an http(s) endpoint: \(endpoint)")
        }
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.bucket = bucket
        self.timeoutSeconds = max(1, timeoutSeconds)
        retryPolicy = retry
        signer = SigV4(credentials: credentials, region: region, service: "s3")
        http = RESTClient(baseURL: self.endpoint, token: nil, timeoutSeconds: self.timeoutSeconds)
        host = url.port.map { "\(h):\($0)" } ?? h
    }

    /// Requests sent so far, retries included (for metrics).
    public var requestCount: Int { counters.requestCount }
    /// Retries performed so far: attempts after the first of a request (for metrics).
    public var retryCount: Int { counters.retryCount }

    /// Creates the bucket; one that already exists and is ours is fine.
    public func createBucket() throws {
        let r = try request("PUT", key: nil)
        if r.status == 200 || (r.status == 409 && Self.errorCode(r.body) == "BucketAlreadyOwnedByYou") { return }
        throw Self.error(r)
    }

    /// Stores `data` under `key` with one PUT (all or nothing; up to 5 GiB on AWS).
    public func put(_ key: String, _ data: Data) throws {
        let r = try request("PUT", key: key, body: data)
        guard r.status == 200 else { throw Self.error(r) }
    }

    /// The object, or the bytes `range` of it (a 206 answer; a range past the end is cut short
    /// by the server, one starting past it is an `InvalidRange` error, status 416).
    public func get(_ key: String, range: ClosedRange<Int>? = nil) throws -> Data {
        let r = try request("GET", key: key, headers: range.map { ["Range": "bytes=\($0.lowerBound)-\($0.upperBound)"] } ?? [:])
        guard r.status == 200 || r.status == 206 else { throw Self.error(r) }
        if let range, r.status == 200 {
            // The server ignored the Range header: cut the range out here.
            guard range.lowerBound < r.body.count else {
                throw S3Error(status: 416, code: "InvalidRange", message: "range \(range) of \(r.body.count) bytes")
            }
            return r.body.subdata(in: range.lowerBound..<min(range.upperBound + 1, r.body.count))
        }
        return r.body
    }

    /// Streams the object into `file` (created, or truncated first) without holding it in
    /// memory, and returns its size. Not atomic: on failure the file's content is unspecified.
    @discardableResult
    public func download(_ key: String, to file: URL) throws -> Int {
        let path = objectPath(key)
        let status = try retrying("GET \(key)") { _ in
            try http.download(path, to: file, offset: 0, headers: signedHeaders("GET", path: path, query: [], payloadHash: SigV4.emptyPayloadHash),
                              stallSeconds: timeoutSeconds)
        } transient: { RetryPolicy.isTransient(status: $0) }
        guard status == 200 else {
            let body = (try? Data(contentsOf: file)) ?? Data()   // the error document
            throw Self.error(status: status, body: body)
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        return (attributes[.size] as? NSNumber)?.intValue ?? 0
    }

    /// The object's size, or nil when there is none.
    public func size(_ key: String) throws -> Int? {
        let r = try request("HEAD", key: key)
        if r.status == 404 { return nil }
        guard r.status == 200 else { throw S3Error(status: r.status, code: "HTTP\(r.status)", message: "HEAD \(key)") }
        return r.headers["content-length"].flatMap { Int($0) }
    }

    /// Deletes the object; an absent one is fine (S3 answers 204 either way).
    public func delete(_ key: String) throws {
        let r = try request("DELETE", key: key)
        guard r.status == 204 || r.status == 200 || r.status == 404 else { throw Self.error(r) }
    }

    // MARK: - Requests

    /// Sends one request, retried under the policy; the answer may be an error status (the
    /// caller decides). Throws an `S3Error` with code `Unreachable` when no attempt got an answer.
    func request(_ method: String, key: String?, query: [(String, String)] = [], body: Data? = nil,
                 headers: [String: String] = [:]) throws -> RESTClient.Response {
        var attempts = 0
        return try request(method, key: key, query: query, body: body, headers: headers, attempts: &attempts)
    }

    /// ``request(_:key:query:body:headers:)``, telling how many attempts it took.
    func request(_ method: String, key: String?, query: [(String, String)] = [], body: Data? = nil,
                 headers: [String: String] = [:], attempts: inout Int) throws -> RESTClient.Response {
        let path = key.map(objectPath) ?? "/" + SigV4.encode(bucket)
        let payloadHash = body.map { SHA256.hex($0) } ?? SigV4.emptyPayloadHash
        let target = query.isEmpty ? path : path + "?" + query.map { SigV4.encode($0.0) + "=" + SigV4.encode($0.1) }.joined(separator: "&")
        return try retrying("\(method) \(key ?? bucket)") { attempt in
            attempts = attempt
            var all = headers
            for (k, v) in signedHeaders(method, path: path, query: query, payloadHash: payloadHash, extra: headers) { all[k] = v }
            if body != nil { all["Content-Type"] = all["Content-Type"] ?? "application/octet-stream" }
            return try http.send(method, target, body: body, headers: all)
        } transient: { r in
            RetryPolicy.isTransient(status: r.status, code: r.status >= 400 ? Self.errorCode(r.body) : nil)
        }
    }

    /// Runs `operation` (given the attempt number, from 1) until it returns an answer that is not
    /// `transient` or the policy is spent; transport failures that may pass are retried alike.
    func retrying<T>(_ what: String, _ operation: (Int) throws -> T, transient: (T) -> Bool) throws -> T {
        let start = Date()
        var attempt = 0
        while true {
            attempt += 1
            counters.addRequest()
            let failure: RESTClient.TransportError
            do {
                let answer = try operation(attempt)
                if !transient(answer) { return answer }
                guard let wait = nextDelay(after: attempt, since: start) else { return answer }
                counters.addRetry()
                Thread.sleep(forTimeInterval: wait)
                continue
            } catch let error as RESTClient.TransportError {
                guard error.isTransient else { throw S3Error(status: 0, code: "RequestFailed", message: "\(what): \(error.description)") }
                failure = error
            }
            guard let wait = nextDelay(after: attempt, since: start) else {
                let seconds = String(format: "%.1f", Date().timeIntervalSince(start))
                throw S3Error(status: 0, code: "Unreachable",
                              message: "\(what): \(failure.description) (gave up after \(attempt) attempt(s) in \(seconds) s)")
            }
            counters.addRetry()
            Thread.sleep(forTimeInterval: wait)
        }
    }

    /// The wait before another attempt, or nil when the policy allows none.
    private func nextDelay(after attempt: Int, since start: Date) -> TimeInterval? {
        guard attempt < retryPolicy.attempts else { return nil }
        let wait = retryPolicy.delay(retry: attempt)
        // Leave room for the attempt itself to begin before the deadline.
        guard Date().timeIntervalSince(start) + wait < retryPolicy.deadline else { return nil }
        return wait
    }

    /// Path-style `/bucket/key`, each segment percent-encoded once, the same in the URL and the signature.
    func objectPath(_ key: String) -> String {
        "/" + ([bucket] + key.split(separator: "/", omittingEmptySubsequences: false).map(String.init)).map(SigV4.encode).joined(separator: "/")
    }

    /// The signature headers (`x-amz-date`, `x-amz-content-sha256`, `Authorization`, …) and `Host`
    /// for a request made now.
    func signedHeaders(_ method: String, path: String, query: [(String, String)], payloadHash: String,
                       extra: [String: String] = [:]) -> [String: String] {
        var headers = extra
        headers["Host"] = host
        let signed = signer.sign(method: method, path: path, query: query, headers: headers.map { ($0.key, $0.value) },
                                 payloadHash: payloadHash, date: Date(), pathIsEncoded: true)
        var out = ["Host": host]
        for (k, v) in signed { out[k] = v }
        return out
    }

    static func errorCode(_ body: Data) -> String? {
        XMLText.value("Code", in: String(decoding: body, as: UTF8.self))
    }

    static func error(_ r: RESTClient.Response) -> S3Error { error(status: r.status, body: r.body) }

    static func error(status: Int, body: Data) -> S3Error {
        let text = String(decoding: body, as: UTF8.self)
        let message = XMLText.value("Message", in: text) ?? text
        return S3Error(status: status, code: errorCode(body) ?? "HTTP\(status)", message: String(message.prefix(500)))
    }
}

/// An S3 error answer (or a refused endpoint): the HTTP status, S3's error code and message.
/// Status 0 with code `Unreachable`: no attempt got an answer (after the retries).
public struct S3Error: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String
    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }
    public var description: String { "\(code) (\(status)): \(message)" }
    public var isNotFound: Bool { status == 404 }
    /// A failure that may pass: no answer at all, 5xx, 429 or `SlowDown` (after the retries).
    public var isTransient: Bool { (status == 0 && code == "Unreachable") || RetryPolicy.isTransient(status: status, code: code) }
}
