import Foundation
import XCTest
import TestSupport
@testable import ObjectStore
#if canImport(Glibc)
import Glibc
#endif

/// Retries against a real SeaweedFS: a request to a frozen server (SIGSTOP) times out, is
/// retried, and succeeds once the server runs again; a dead endpoint is `unavailable` after the
/// retry budget; a wrong secret (403) is `refused` after one attempt.
final class S3RetryTests: XCTestCase {
    nonisolated(unsafe) static var server: SeaweedServer?

    override class func tearDown() {
        server = nil
        super.tearDown()
    }

    func server() throws -> SeaweedServer {
        if Self.server == nil { Self.server = try SeaweedServer() }
        return Self.server!
    }

    func client(_ server: SeaweedServer, secret: String = SeaweedServer.secretKey, timeout: Int = 60,
                retry: RetryPolicy = .default) throws -> S3Client {
        try S3Client(endpoint: server.endpoint, bucket: "neuromod-retry", region: "us-east-1",
                     credentials: .init(accessKey: SeaweedServer.accessKey, secretKey: secret), timeoutSeconds: timeout, retry: retry)
    }

    /// The server is frozen while a PUT is issued: each attempt times out after 1 s, and the
    /// PUT succeeds after the server is let go 2.5 s later, within the retry budget.
    func testAPutToAFrozenServerIsRetriedUntilItAnswers() throws {
        let server = try server()
        XCTAssertEqual(try String(contentsOfFile: "/proc/\(server.pid)/comm", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                       "weed", "the process we stop is weed itself")
        try client(server).createBucket()
        let s3 = try client(server, timeout: 1, retry: RetryPolicy(attempts: 12, baseDelay: 0.2, maxDelay: 1, deadline: 30))
        let store = S3BlobStore(client: s3, prefix: "frozen")
        let data = FolderBlobStoreTests.bytes(50_000, seed: 9)
        server.pause()
        let resumed = DispatchSemaphore(value: 0)
        let pid = server.pid
        DispatchQueue.global().asyncAfter(deadline: .now() + 2.5) { kill(pid, SIGCONT); resumed.signal() }
        defer { resumed.wait() }
        let start = Date()
        try store.put("during-stop.bin", data: data)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 2.0, "answered only after the server ran again")
        XCTAssertGreaterThanOrEqual(s3.retryCount, 1)
        XCTAssertEqual(s3.requestCount, s3.retryCount + 1)
        XCTAssertEqual(try store.get("during-stop.bin"), data)
        print("frozen server: \(s3.retryCount) retries, \(String(format: "%.1f", elapsed)) s")
    }

    /// Nothing listens: every attempt is refused at once, and after 4 attempts (3 short waits)
    /// the store reports `unavailable`.
    func testADeadEndpointIsUnavailableAfterTheRetryBudget() throws {
        let port = TestSupport.freeLoopbackPort()
        let s3 = try S3Client(endpoint: "http://127.0.0.1:\(port)", bucket: "b-dead", region: "us-east-1",
                              credentials: .init(accessKey: "k", secretKey: "s"), timeoutSeconds: 2,
                              retry: RetryPolicy(attempts: 4, baseDelay: 0.05, maxDelay: 0.2, deadline: 10))
        let start = Date()
        XCTAssertThrowsError(try S3BlobStore(client: s3, prefix: "").put("x", data: Data("x".utf8))) {
            guard case BlobStoreError.unavailable(let message) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(message.contains("4 attempt"), message)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        XCTAssertEqual(s3.requestCount, 4)
        XCTAssertEqual(s3.retryCount, 3)
        // The deadline stops retrying too, whatever the attempts left.
        let bounded = try S3Client(endpoint: "http://127.0.0.1:\(port)", bucket: "b-dead", region: "us-east-1",
                                   credentials: .init(accessKey: "k", secretKey: "s"),
                                   retry: RetryPolicy(attempts: 1000, baseDelay: 0.1, maxDelay: 0.1, deadline: 0.5))
        let again = Date()
        XCTAssertThrowsError(try bounded.get("x")) { XCTAssertTrue(($0 as? S3Error)?.isTransient ?? false, "\($0)") }
        XCTAssertLessThan(Date().timeIntervalSince(again), 2)
        XCTAssertLessThan(bounded.requestCount, 20)
    }

    /// A wrong secret: 403, `refused`, one attempt only (4xx other than 429 are not retried).
    func testAWrongSecretIsRefusedWithoutRetrying() throws {
        let server = try server()
        try client(server).createBucket()
        let forged = try client(server, secret: "wrong-secret-wrong-secret")
        let store = S3BlobStore(client: forged, prefix: "p")
        XCTAssertThrowsError(try store.put("x", data: Data("x".utf8))) {
            guard case BlobStoreError.refused(let message) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(message.contains("403"), message)
        }
        XCTAssertEqual(forged.requestCount, 1)
        XCTAssertEqual(forged.retryCount, 0)
        XCTAssertThrowsError(try store.size("x")) { guard case BlobStoreError.refused = $0 else { return XCTFail("\($0)") } }
        XCTAssertThrowsError(try store.list(prefix: "")) { guard case BlobStoreError.refused = $0 else { return XCTFail("\($0)") } }
        XCTAssertEqual(forged.requestCount, 3)
        XCTAssertEqual(forged.retryCount, 0)
    }
}
