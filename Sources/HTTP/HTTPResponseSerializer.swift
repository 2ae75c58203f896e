import Foundation

/// Turns a response into the bytes of one HTTP/1.1 message (head and body in one buffer, so it
/// can go out in one write).
public enum HTTPResponseSerializer {
    /// - Parameters:
    ///   - headOnly: the request was HEAD: send the headers the GET would have, no body.
    ///   - keepAlive: false adds `Connection: close`.
    public static func serialize(_ response: HTTPResponse, headOnly: Bool = false, keepAlive: Bool,
                                 date: String = HTTPDate.now()) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + (headOnly ? 0 : response.body.count))
        out.append(contentsOf: "HTTP/1.1 \(response.status) \(HTTPStatus.reason(response.status))\r\n".utf8)
        var hasLength = false
        for (name, value) in response.headers {
            if name.caseInsensitiveEquals("Content-Length") { hasLength = true }
            if name.caseInsensitiveEquals("Connection") { continue }
            append(&out, name, value)
        }
        if !response.statusForbidsBody && !hasLength {
            append(&out, "Content-Length", String(response.body.count))
        }
        append(&out, "Date", date)
        if !keepAlive { append(&out, "Connection", "close") }
        out.append(13); out.append(10)
        if !headOnly && !response.statusForbidsBody {
            out.append(contentsOf: response.body)
        }
        return out
    }

    /// The head of a streamed response: no length, `Connection: close` (the stream's end ends
    /// the body).
    public static func serializeStreamHead(_ response: HTTPResponse, date: String = HTTPDate.now()) -> [UInt8] {
        var out: [UInt8] = []
        out.append(contentsOf: "HTTP/1.1 \(response.status) \(HTTPStatus.reason(response.status))\r\n".utf8)
        for (name, value) in response.headers where !name.caseInsensitiveEquals("Content-Length") && !name.caseInsensitiveEquals("Connection") {
            append(&out, name, value)
        }
        append(&out, "Date", date)
        append(&out, "Connection", "close")
        out.append(13); out.append(10)
        return out
    }

    /// The interim `100 Continue` response.
    public static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    private static func append(_ out: inout [UInt8], _ name: String, _ value: String) {
        out.append(contentsOf: name.utf8)
        out.append(58); out.append(32)
        // Never let a CR or LF from a value split the header section.
        for c in value.utf8 where c != 13 && c != 10 { out.append(c) }
        out.append(13); out.append(10)
    }
}

/// IMF-fixdate formatting for the `Date` header.
public enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public static func now() -> String { format(Date()) }

    public static func format(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(1900 + tm.tm_year) "
            + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
    }
}
