import Support

/// The browser dashboard, compiled into the binary: one HTML page, its stylesheet, four scripts
/// and an icon (`Assets/`). Nothing is fetched from elsewhere at run time and nothing is built:
/// the scripts are plain ES2020 that talk to the `/v1` API with the visitor's bearer token.
public enum DashboardAssets {
    /// One file of the dashboard.
    public struct Asset: Sendable {
        public let bytes: [UInt8]
        public let contentType: String
        /// A strong validator: 32 hex digits of the SHA-256 of `bytes`, quoted.
        public let etag: String

        init(_ text: String, contentType: String) {
            bytes = Array(text.utf8)
            self.contentType = contentType
            etag = "\"" + SHA256.hex(bytes).prefix(32) + "\""
        }
    }

    /// The page served at `/`. With `authRequired` the scripts ask for a token before their
    /// first request (the page itself holds no data, so it is served to anyone).
    public static func page(authRequired: Bool) -> Asset {
        authRequired ? protectedPage : openPage
    }

    /// A file under `/dashboard/`, by name; nil for any other name.
    public static func asset(named name: String) -> Asset? { files[name] }

    /// The names served under `/dashboard/`.
    public static var names: [String] { files.keys.sorted() }

    /// Sent with every dashboard file: scripts, styles, images and connections from this origin
    /// only, no inline script or style, no framing.
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    private static let openPage = Asset(indexHTML.replacingOccurrences(of: "{{AUTH}}", with: "none"), contentType: "text/html; charset=utf-8")
    private static let protectedPage = Asset(indexHTML.replacingOccurrences(of: "{{AUTH}}", with: "required"), contentType: "text/html; charset=utf-8")

    private static let files: [String: Asset] = [
        "style.css": Asset(styleCSS, contentType: "text/css; charset=utf-8"),
        "core.js": Asset(coreScript, contentType: "text/javascript; charset=utf-8"),
        "plots.js": Asset(plotsScript, contentType: "text/javascript; charset=utf-8"),
        "runs.js": Asset(runsScript, contentType: "text/javascript; charset=utf-8"),
        "studies.js": Asset(studiesScript, contentType: "text/javascript; charset=utf-8"),
        "favicon.svg": Asset(faviconSVG, contentType: "image/svg+xml"),
    ]
}
