import Foundation
import Support

/// AWS Signature Version 4 for S3-compatible object stores (header-based authentication):
/// canonical request → string to sign → signing key (HMAC chain over date, region, service) →
/// `Authorization` header. Tested against AWS's published signing examples.
public struct SigV4: Sendable {
    public struct Credentials: Sendable, Equatable {
        public var accessKey: String
        public var secretKey: String
        /// Temporary credentials' session token (`x-amz-security-token`); nil for long-term keys.
        public var sessionToken: String?
        public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
            self.accessKey = accessKey
            self.secretKey = secretKey
            self.sessionToken = sessionToken
        }
    }

    public let credentials: Credentials
    public let region: String
    public let service: String

    public init(credentials: Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The SHA-256 of an empty payload (a GET, a HEAD, a DELETE).
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// `20150830T123600Z`: the request time as SigV4 writes it (UTC).
    public static func timestamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: date)
    }

    /// The headers to add to a request (`x-amz-date`, `x-amz-content-sha256`, the session token
    /// when there is one, and `Authorization`), given its method, path (not yet encoded), query
    /// parameters, headers (`Host` included) and payload hash.
    public func sign(method: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
                     payloadHash: String, date: Date, pathIsEncoded: Bool = false) -> [(String, String)] {
        let amzDate = Self.timestamp(date)
        var all = headers
        all.append(("x-amz-date", amzDate))
        all.append(("x-amz-content-sha256", payloadHash))
        if let token = credentials.sessionToken { all.append(("x-amz-security-token", token)) }
        let authorization = self.authorization(method: method, path: path, query: query, headers: all,
                                               payloadHash: payloadHash, amzDate: amzDate, pathIsEncoded: pathIsEncoded)
        return Array(all.dropFirst(headers.count)) + [("Authorization", authorization)]
    }

    /// The `Authorization` value for a request whose headers already hold `x-amz-date` (= `amzDate`).
    public func authorization(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                              payloadHash: String, amzDate: String, pathIsEncoded: Bool = false) -> String {
        let (request, signed) = Self.canonicalRequest(method: method, path: path, query: query, headers: headers, payloadHash: payloadHash,
                                                      pathIsEncoded: pathIsEncoded)
        let scope = "\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
        let signature = HMAC.hex(HMAC.sha256(key: signingKey(day: String(amzDate.prefix(8))),
                                             message: Array(Self.stringToSign(request, amzDate: amzDate, scope: scope).utf8)))
        return "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope), SignedHeaders=\(signed), Signature=\(signature)"
    }

    /// The canonical request and its signed-header list.
    public static func canonicalRequest(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                                        payloadHash: String, pathIsEncoded: Bool = false) -> (String, String) {
        let segments: [String] = path.split(separator: "/", omittingEmptySubsequences: false).map { pathIsEncoded ? String($0) : encode(String($0)) }
        let uri = path.isEmpty ? "/" : segments.joined(separator: "/")
        let encoded: [(String, String)] = query.map { (encode($0.0), encode($0.1)) }
        let sortedQuery = encoded.sorted { (a: (String, String), b: (String, String)) -> Bool in a.0 != b.0 ? a.0 < b.0 : a.1 < b.1 }
        let canonicalQuery = sortedQuery.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        // Header names lower-cased, values trimmed with inner runs of spaces folded; one line per
        // name (repeated names joined by commas), sorted.
        var byName: [String: [String]] = [:]
        for (name, value) in headers {
            let folded = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            byName[name.lowercased(), default: []].append(folded)
        }
        let names = byName.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(byName[$0]!.joined(separator: ","))\n" }.joined()
        let signed = names.joined(separator: ";")
        return ([method, uri, canonicalQuery, canonicalHeaders, signed, payloadHash].joined(separator: "\n"), signed)
    }

    static func stringToSign(_ canonicalRequest: String, amzDate: String, scope: String) -> String {
        "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(SHA256.hex(Array(canonicalRequest.utf8)))"
    }

    func signingKey(day: String) -> [UInt8] {
        let kDate = HMAC.sha256(key: Array("AWS4\(credentials.secretKey)".utf8), message: Array(day.utf8))
        let kRegion = HMAC.sha256(key: kDate, message: Array(region.utf8))
        let kService = HMAC.sha256(key: kRegion, message: Array(service.utf8))
        return HMAC.sha256(key: kService, message: Array("aws4_request".utf8))
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (A–Z a–z 0–9 - . _ ~).
    public static func encode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }
}
