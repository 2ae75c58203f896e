import Foundation
import CCurl

/// A small blocking HTTP client over libcurl, for the command-line client: JSON requests with a
/// bearer token, and downloads that resume with a Range request. One easy handle per request.
public final class RESTClient: @unchecked Sendable {
    public struct Response: Sendable {
        public let status: Int
        public let body: Data
        /// Response headers, names lower-cased (the last value of a repeated header).
        public let headers: [String: String]
    }

    /// A transport failure (no answer at all: refused connection, timeout, bad URL).
    public struct TransportError: Error, CustomStringConvertible {
        public let description: String
        /// libcurl's result code (`CURLcode`), 0 when the failure did not come from libcurl.
        public var code: Int = 0

        /// Whether trying again may help: refused or reset connections, timeouts, a server that
        /// closed without answering, DNS hiccups. Not a malformed URL, an unsupported protocol or
        /// a failure to read or write a local file.
        public var isTransient: Bool {
            ![0, Int(CURLE_UNSUPPORTED_PROTOCOL.rawValue), Int(CURLE_URL_MALFORMAT.rawValue), Int(CURLE_WRITE_ERROR.rawValue),
              Int(CURLE_READ_ERROR.rawValue), Int(CURLE_OUT_OF_MEMORY.rawValue), Int(CURLE_ABORTED_BY_CALLBACK.rawValue),
              Int(CURLE_BAD_FUNCTION_ARGUMENT.rawValue)].contains(code)
        }
    }

    public let baseURL: String
    let token: String?
    let timeout: Int

    public init(baseURL: String, token: String?, timeoutSeconds: Int = 30) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        timeout = timeoutSeconds
        _ = Self.globalInit
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Sends `method path` with an optional JSON body.
    public func request(_ method: String, _ path: String, json body: Data? = nil, headers extra: [String: String] = [:]) throws -> Response {
        var headers = extra
        if body != nil { headers["Content-Type"] = "application/json" }
        let sink = Sink()
        try perform(method: method, path: path, body: body, headers: headers, sink: sink)
        return Response(status: sink.status, body: sink.body, headers: sink.headers)
    }

    /// Sends `method path` with raw bytes and exactly the given headers (an object store's
    /// requests, signed by the caller).
    public func send(_ method: String, _ path: String, body: Data?, headers: [String: String]) throws -> Response {
        let sink = Sink()
        try perform(method: method, path: path, body: body, headers: headers, sink: sink)
        return Response(status: sink.status, body: sink.body, headers: sink.headers)
    }

    /// Downloads `path` into `file`, appending from `offset` bytes with a Range request (the file
    /// must then hold the first `offset` bytes). Returns the status (200, or 206 when resumed).
    /// `headers` are added to the request (an object store's signature). With `stallSeconds`, the
    /// download has no overall time limit and is abandoned only when no byte arrives for that long
    /// (large files); without it, the client's per-request timeout applies.
    public func download(_ path: String, to file: URL, offset: Int, headers extra: [String: String] = [:],
                         stallSeconds: Int? = nil) throws -> Int {
        if !FileManager.default.fileExists(atPath: file.path) { FileManager.default.createFile(atPath: file.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(offset))
        try handle.seekToEnd()
        let sink = Sink()
        sink.file = handle
        var headers = extra
        if offset > 0 { headers["Range"] = "bytes=\(offset)-" }
        do {
            try perform(method: "GET", path: path, body: nil, headers: headers, sink: sink, stallSeconds: stallSeconds)
        } catch {
            throw sink.fileError ?? error   // a local write failure, not the transport's
        }
        if let error = sink.fileError { throw error }
        if sink.status == 200 && offset > 0 {
            // The server ignored the range: start over with the whole body.
            return try download(path, to: file, offset: 0, headers: extra, stallSeconds: stallSeconds)
        }
        return sink.status
    }

    // MARK: - libcurl

    final class Sink {
        var status = 0
        var body = Data()
        var headers: [String: String] = [:]
        var file: FileHandle?
        var fileError: Error?
    }

    private func perform(method: String, path: String, body: Data?, headers: [String: String], sink: Sink, stallSeconds: Int? = nil) throws {
        guard let curl = curl_easy_init() else { throw TransportError(description: "libcurl could not start") }
        defer { curl_easy_cleanup(curl) }
        var list: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(list) }
        var all = headers
        if let token { all["Authorization"] = "Bearer \(token)" }
        all["Expect"] = ""   // no 100-continue round trip
        for (k, v) in all { list = curl_slist_append(list, "\(k): \(v)") }
        nm_curl_set_string(curl, CURLOPT_URL, baseURL + path)
        nm_curl_set_string(curl, CURLOPT_CUSTOMREQUEST, method)
        if method == "HEAD" { nm_curl_set_long(curl, CURLOPT_NOBODY, 1) }
        nm_curl_set_slist(curl, CURLOPT_HTTPHEADER, list)
        if let stallSeconds {
            nm_curl_set_long(curl, CURLOPT_LOW_SPEED_LIMIT, 1)
            nm_curl_set_long(curl, CURLOPT_LOW_SPEED_TIME, stallSeconds)
        } else {
            nm_curl_set_long(curl, CURLOPT_TIMEOUT, timeout)
        }
        nm_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT, 10)
        nm_curl_set_long(curl, CURLOPT_NOSIGNAL, 1)
        let box = Unmanaged.passUnretained(sink).toOpaque()
        nm_curl_set_write(curl, CURLOPT_WRITEFUNCTION) { data, size, count, user in
            let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
            let n = size * count
            let chunk = Data(bytes: data!, count: n)
            if let file = sink.file {
                do { try file.write(contentsOf: chunk) } catch { sink.fileError = error; return 0 }
            } else {
                sink.body.append(chunk)
            }
            return n
        }
        nm_curl_set_pointer(curl, CURLOPT_WRITEDATA, box)
        nm_curl_set_write(curl, CURLOPT_HEADERFUNCTION) { data, size, count, user in
            let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
            let n = size * count
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
            if let colon = line.firstIndex(of: ":") {
                sink.headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return n
        }
        nm_curl_set_pointer(curl, CURLOPT_HEADERDATA, box)
        let payload = body ?? Data()
        let code: CURLcode = payload.withUnsafeBytes { raw in
            if body != nil {
                nm_curl_set_off(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(raw.count))
                nm_curl_set_pointer(curl, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
            return curl_easy_perform(curl)
        }
        guard code == CURLE_OK else {
            throw TransportError(description: "\(method) \(baseURL)\(path): \(String(cString: curl_easy_strerror(code)))", code: Int(code.rawValue))
        }
        var status = 0
        nm_curl_get_long(curl, CURLINFO_RESPONSE_CODE, &status)
        sink.status = status
    }
}
