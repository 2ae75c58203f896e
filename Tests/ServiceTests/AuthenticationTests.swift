import XCTest
@testable import API
import Engine

/// Bearer-token authentication: the token parser and decisions in memory, then over HTTP against
/// the in-process server and the real binary (tokens from a file, never in the log).
final class AuthenticationTests: XCTestCase {
    static let readToken = "r3ad-0nly-t0ken-abcdef"
    static let writeToken = "wr1te-t0ken-0123456789"

    func testTokenFilesParseAndDecisionsFollowScopes() throws {
        let auth = try Authenticator.parse("""
            # operators' tokens
            read \(Self.readToken)
            write \(Self.writeToken)   # the CI robot
            """)
        XCTAssertEqual(auth.authorize("Bearer \(Self.writeToken)", needs: .write), .allowed)
        XCTAssertEqual(auth.authorize("bearer \(Self.writeToken)", needs: .read), .allowed, "the scheme is case-insensitive")
        XCTAssertEqual(auth.authorize("Bearer \(Self.readToken)", needs: .read), .allowed)
        guard case .forbidden = auth.authorize("Bearer \(Self.readToken)", needs: .write) else { return XCTFail("read token may not write") }
        guard case .unauthenticated = auth.authorize(nil, needs: .read) else { return XCTFail() }
        guard case .unauthenticated = auth.authorize("Bearer \(Self.writeToken)x", needs: .read) else { return XCTFail() }
        guard case .unauthenticated = auth.authorize("Basic \(Self.writeToken)", needs: .read) else { return XCTFail() }
        guard case .unauthenticated = auth.authorize("Bearer ", needs: .read) else { return XCTFail() }
        XCTAssertEqual(try Authenticator.parse("read:\(Self.readToken),write:\(Self.writeToken)").authorize("Bearer \(Self.readToken)", needs: .read), .allowed)
        XCTAssertThrowsError(try Authenticator.parse("write short"), "tokens under 16 characters are refused")
        XCTAssertThrowsError(try Authenticator.parse("admin \(Self.writeToken)"), "unknown scope")
        XCTAssertThrowsError(try Authenticator.parse("# nothing\n"), "no tokens")
        do { _ = try Authenticator.parse("admin \(Self.writeToken)") } catch {
            XCTAssertFalse("\(error)".contains(Self.writeToken), "errors never quote a token")
        }
    }

    func testEveryEndpointButHealthNeedsATokenWithTheRightScope() throws {
        let auth = try Authenticator.parse("read \(Self.readToken)\nwrite \(Self.writeToken)")
        let service = try ServiceHarness(workers: 1, options: { $0.authenticator = auth })
        defer { service.stop() }
        // Each route declares its access where it is registered.
        XCTAssertEqual(service.api.access(method: "GET", path: "/v1/runs"), .needs(.read))
        XCTAssertEqual(service.api.access(method: "HEAD", path: "/v1/runs/r1"), .needs(.read))
        XCTAssertEqual(service.api.access(method: "POST", path: "/v1/models/m/predict"), .needs(.read))
        XCTAssertEqual(service.api.access(method: "POST", path: "/v2/models/m/versions/2/infer"), .needs(.read))
        XCTAssertEqual(service.api.access(method: "POST", path: "/v1/models"), .needs(.write))
        XCTAssertEqual(service.api.access(method: "DELETE", path: "/v1/models/m/aliases/a"), .needs(.write))
        XCTAssertEqual(service.api.access(method: "GET", path: "/v1/healthz"), .open)
        XCTAssertEqual(service.api.access(method: "GET", path: "/no/such/route"), .needs(.read))
        let c = try service.client()
        for path in ["/v1/healthz", "/v1/readyz", "/v2/health/live", "/v2/health/ready"] {
            XCTAssertEqual(try c.json("GET", path).status, 200, "\(path) stays open for probes")
        }
        let anonymous = try c.json("GET", "/v1/runs")
        XCTAssertEqual(anonymous.status, 401)
        XCTAssertEqual(anonymous["error", "code"]?.string, "unauthenticated")
        XCTAssertEqual(anonymous.header("WWW-Authenticate"), #"Bearer realm="neuromod""#)
        XCTAssertEqual(try c.json("GET", "/v1/openapi.yaml").status, 401)
        XCTAssertEqual(try c.json("GET", "/v1/runs", headers: [("Authorization", "Bearer wrong-token-0000000000")]).status, 401)
        let read = [("Authorization", "Bearer \(Self.readToken)")], write = [("Authorization", "Bearer \(Self.writeToken)")]
        XCTAssertEqual(try c.json("GET", "/v1/runs", headers: read).status, 200)
        let denied = try c.json("POST", "/v1/experiments", #"{"name": "x"}"#, headers: read)
        XCTAssertEqual(denied.status, 403)
        XCTAssertEqual(denied["error", "code"]?.string, "forbidden")
        XCTAssertEqual(try c.json("GET", "/v1/experiments", headers: write)["experiments"]?.array?.count, 0, "the denied write stored nothing")
        XCTAssertEqual(try c.json("POST", "/v1/experiments", #"{"name": "x"}"#, headers: write).status, 201)
        XCTAssertEqual(try c.json("GET", "/v1/experiments", headers: read)["experiments"]?.array?.count, 1)
        XCTAssertEqual(try c.json("POST", "/v1/models/none/predict", #"{"inputs": [[0]]}"#, headers: read).status, 404,
                       "a read token may predict (the model does not exist: 404, not 403)")
        XCTAssertEqual(try c.json("GET", "/v1/nope", headers: []).status, 401, "unknown paths reveal nothing without a token")
    }

    /// The real binary with --tokens-file: requests without a token are refused, with one served,
    /// and no token — presented or configured — reaches the log.
    func testTheServerReadsATokensFileAndNeverLogsTokens() throws {
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("nm-auth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dataDir) }
        let file = dataDir.appendingPathComponent("tokens")
        try "write \(Self.writeToken)\n".write(to: file, atomically: true, encoding: .utf8)
        let server = try ServiceProcess(dataDir: dataDir, extraArguments: ["--tokens-file", file.path])
        let c = try server.client()
        XCTAssertEqual(try c.json("GET", "/v1/experiments").status, 401)
        XCTAssertEqual(try c.json("GET", "/v1/experiments", headers: [("Authorization", "Bearer guessed-token-123456789")]).status, 401)
        XCTAssertEqual(try c.json("GET", "/v1/experiments", headers: [("Authorization", "Bearer \(Self.writeToken)")]).status, 200)
        server.kill(SIGTERM)
        _ = server.waitForExit(timeout: 10)
        let log = try String(contentsOf: server.logURL, encoding: .utf8)
        XCTAssertTrue(log.contains("bearer tokens required"), log)
        XCTAssertFalse(log.contains(Self.writeToken) || log.contains("guessed-token"), "tokens never logged")
        // A weak token file stops the start with a clear message.
        try "write short\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ServiceProcess(dataDir: dataDir, extraArguments: ["--tokens-file", file.path]))
    }
}
