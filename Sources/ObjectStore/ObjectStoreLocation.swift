import Foundation

/// Where a ``BlobStore`` lives, as an operator writes it: `s3://bucket/some/prefix` (endpoint,
/// region and credentials from the environment) or a local folder (`/srv/blobs`, `file:///srv/blobs`).
public enum ObjectStoreLocation: Sendable, Equatable, CustomStringConvertible {
    case folder(URL)
    case s3(S3Location)

    /// An S3 bucket and key prefix, and how to reach it.
    public struct S3Location: Sendable, Equatable {
        /// `http(s)://host[:port]`.
        public let endpoint: String
        public let bucket: String
        /// Empty, or ending with `/`.
        public let prefix: String
        public let region: String
        public let credentials: SigV4.Credentials
    }

    /// A location that cannot be used, with the reason (naming the variable or the part of the
    /// URL at fault).
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Variables read for an `s3://` location.
    public static let endpointVariables = ["NEUROMOD_S3_ENDPOINT", "AWS_ENDPOINT_URL"]

    /// Parses `text`. For `s3://bucket/prefix`: the endpoint is `NEUROMOD_S3_ENDPOINT` (else
    /// `AWS_ENDPOINT_URL`), the region `AWS_REGION` (default `us-east-1`), the credentials
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN` when set). A
    /// variable set to the empty string counts as unset. Anything without a scheme is a folder
    /// (a relative path is taken from the current folder).
    public static func parse(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ObjectStoreLocation {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw ParseError(description: "empty object store location") }
        if trimmed.hasPrefix("s3://") { return .s3(try parseS3(trimmed, environment: environment)) }
        if trimmed.hasPrefix("file://") {
            let path = String(trimmed.dropFirst("file://".count))
            guard path.hasPrefix("/") else { throw ParseError(description: "\(text): a file:// location needs an absolute path (file:///srv/blobs)") }
            return .folder(URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL)
        }
        if let scheme = trimmed.range(of: "://"), let first = trimmed.first, first.isLetter,
           trimmed[..<scheme.lowerBound].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) }) {
            throw ParseError(description: "\(text): unsupported scheme \(trimmed[..<scheme.lowerBound])://, expected s3:// or a folder path")
        }
        let base = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
        return .folder(URL(fileURLWithPath: trimmed, isDirectory: true, relativeTo: base).standardizedFileURL)
    }

    private static func parseS3(_ text: String, environment: [String: String]) throws -> S3Location {
        let rest = text.dropFirst("s3://".count)
        let bucket = String(rest.prefix { $0 != "/" })
        var prefix = String(rest.dropFirst(bucket.count))
        if prefix.hasPrefix("/") { prefix.removeFirst() }
        guard !bucket.isEmpty else { throw ParseError(description: "\(text): no bucket (expected s3://bucket/prefix)") }
        if let problem = bucketProblem(bucket) { throw ParseError(description: "\(text): bucket name \"\(bucket)\" \(problem)") }
        if prefix.contains("?") || prefix.contains("#") {
            throw ParseError(description: "\(text): a query or fragment is not part of an s3:// location")
        }
        if !prefix.isEmpty, let problem = BlobKey.problem(prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix) {
            throw ParseError(description: "\(text): key prefix \"\(prefix)\" \(problem)")
        }
        if !prefix.isEmpty && !prefix.hasSuffix("/") { prefix += "/" }

        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        guard let endpoint = endpointVariables.lazy.compactMap(value).first else {
            throw ParseError(description: "\(text): set NEUROMOD_S3_ENDPOINT (or AWS_ENDPOINT_URL) to the S3 endpoint, e.g. https://s3.us-east-1.amazonaws.com")
        }
        let variable = value("NEUROMOD_S3_ENDPOINT") != nil ? "NEUROMOD_S3_ENDPOINT" : "AWS_ENDPOINT_URL"
        let normalized = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        guard let url = URL(string: normalized), url.scheme == "http" || url.scheme == "https", let host = url.host, !host.isEmpty,
              url.path.isEmpty, url.query == nil, url.user == nil else {
            throw ParseError(description: "\(variable)=\(endpoint) is not an endpoint: expected http(s)://host[:port] without a path")
        }
        let missing = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].filter { value($0) == nil }
        guard missing.isEmpty else {
            throw ParseError(description: "\(text): set \(missing.joined(separator: " and ")) (the credentials for \(normalized))")
        }
        let credentials = SigV4.Credentials(accessKey: value("AWS_ACCESS_KEY_ID")!, secretKey: value("AWS_SECRET_ACCESS_KEY")!,
                                            sessionToken: value("AWS_SESSION_TOKEN"))
        return S3Location(endpoint: normalized, bucket: bucket, prefix: prefix, region: value("AWS_REGION") ?? "us-east-1",
                          credentials: credentials)
    }

    /// Why `name` is not an S3 bucket name (3–63 of a–z 0–9 . -, starting and ending with a
    /// letter or digit), or nil.
    static func bucketProblem(_ name: String) -> String? {
        guard (3...63).contains(name.count) else { return "must be 3 to 63 characters long" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-")
        guard name.allSatisfy(allowed.contains) else { return "may hold only lower-case letters, digits, . and -" }
        guard let first = name.first, let last = name.last, first.isLetter || first.isNumber, last.isLetter || last.isNumber else {
            return "must start and end with a letter or digit"
        }
        if name.contains("..") { return "may not hold two dots in a row" }
        return nil
    }

    /// `folder /x`, or `s3://bucket/prefix at http://…` (never the credentials).
    public var description: String {
        switch self {
        case .folder(let url): return "folder \(url.path)"
        case .s3(let s3): return "s3://\(s3.bucket)/\(s3.prefix) at \(s3.endpoint) (region \(s3.region))"
        }
    }

    /// The store at this location. For S3, `timeoutSeconds` bounds each attempt and `retry`
    /// says how failures that may pass are retried; the bucket is not created.
    public func makeStore(timeoutSeconds: Int = 60, retry: RetryPolicy = .default) throws -> any BlobStore {
        switch self {
        case .folder(let url):
            return FolderBlobStore(root: url)
        case .s3(let s3):
            let client = try S3Client(endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, credentials: s3.credentials,
                                      timeoutSeconds: timeoutSeconds, retry: retry)
            return S3BlobStore(client: client, prefix: s3.prefix)
        }
    }
}
