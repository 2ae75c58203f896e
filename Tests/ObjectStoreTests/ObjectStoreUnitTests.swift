import Foundation
import XCTest
@testable import ObjectStore

/// The parts that need no server: retry delays and what is retried, S3's XML, key rules, and
/// parsing an object store location from a URL and the environment.
final class ObjectStoreUnitTests: XCTestCase {
    func testBackoffGrowsExponentiallyWithinTheCapAndJitterStaysInItsBand() {
        let policy = RetryPolicy(attempts: 6, baseDelay: 0.2, maxDelay: 5, deadline: 120)
        XCTAssertEqual(RetryPolicy.default, policy)
        XCTAssertEqual((1...7).map { policy.backoff(retry: $0) }, [0.2, 0.4, 0.8, 1.6, 3.2, 5, 5])
        for retry in 1...8 {
            let full = policy.backoff(retry: retry)
            for _ in 0..<50 {
                let d = policy.delay(retry: retry)
                XCTAssertTrue(d >= full / 2 && d <= full, "retry \(retry): \(d) outside [\(full / 2), \(full)]")
            }
        }
        XCTAssertGreaterThan(Set((0..<20).map { _ in policy.delay(retry: 3) }).count, 1, "jittered")
        XCTAssertEqual(RetryPolicy(attempts: 0).attempts, 1, "at least one attempt")
        XCTAssertEqual(RetryPolicy(baseDelay: 1, maxDelay: 10).backoff(retry: 1000), 10, "no overflow far out")
    }

    func testWhatIsRetried() {
        for status in [429, 500, 502, 503, 504] { XCTAssertTrue(RetryPolicy.isTransient(status: status), "\(status)") }
        for status in [200, 204, 206, 301, 400, 401, 403, 404, 409, 416, 501] { XCTAssertFalse(RetryPolicy.isTransient(status: status), "\(status)") }
        XCTAssertTrue(RetryPolicy.isTransient(status: 400, code: "SlowDown"))
        XCTAssertTrue(S3Error(status: 0, code: "Unreachable", message: "").isTransient)
        XCTAssertFalse(S3Error(status: 403, code: "SignatureDoesNotMatch", message: "").isTransient)
        // And how the blob store reports each.
        XCTAssertEqual(S3BlobStore.blobError(S3Error(status: 404, code: "NoSuchKey", message: ""), key: "k"), .notFound("k"))
        guard case .unavailable = S3BlobStore.blobError(S3Error(status: 503, code: "SlowDown", message: ""), key: "k") else { return XCTFail() }
        guard case .unavailable = S3BlobStore.blobError(S3Error(status: 0, code: "Unreachable", message: ""), key: "k") else { return XCTFail() }
        guard case .refused = S3BlobStore.blobError(S3Error(status: 403, code: "AccessDenied", message: ""), key: "k") else { return XCTFail() }
        guard case .refused = S3BlobStore.blobError(S3Error(status: 404, code: "NoSuchBucket", message: ""), key: "k") else { return XCTFail() }
    }

    func testXMLTextAndTimestamps() {
        let doc = "<ListBucketResult><Contents><Key>a&amp;b &lt;c&gt; &quot;d&quot; &#x41;&#66;</Key><Size>12</Size></Contents><Contents><Key>x</Key></Contents></ListBucketResult>"
        let entries = XMLText.elements("Contents", in: Substring(doc))
        XCTAssertEqual(entries.count, 2)
        XCTAssertEqual(XMLText.value("Key", in: entries[0]), "a&b <c> \"d\" AB")
        XCTAssertEqual(XMLText.value("Size", in: entries[0]), "12")
        XCTAssertNil(XMLText.value("Size", in: entries[1]))
        XCTAssertEqual(XMLText.unescape("&unknown; & lone"), "&unknown; & lone", "left as it is")
        XCTAssertEqual(XMLText.escape("\"a\"&<b>'"), "&quot;a&quot;&amp;&lt;b&gt;&apos;")
        XCTAssertEqual(XMLText.date("2009-10-12T17:50:30.000Z"), Date(timeIntervalSince1970: 1_255_369_830))
        XCTAssertEqual(XMLText.date("2009-10-12T17:50:30Z"), Date(timeIntervalSince1970: 1_255_369_830))
        XCTAssertEqual(XMLText.date("2009-10-12T17:50:30.5Z")?.timeIntervalSince1970, 1_255_369_830.5)
        XCTAssertNil(XMLText.date("2009-10-12 17:50:30"))
        XCTAssertNil(XMLText.date("garbage-garbage-garbageZ"))
    }

    func testKeyRules() {
        for good in ["a", "a/b/c.bin", "checkpoints/run_1/ckpt a+b.safetensors", "x..y", "a/b.", "ü/ß"] {
            XCTAssertNil(BlobKey.problem(good), good)
        }
        for bad in ["", "/a", "a/", "a//b", "..", "a/../b", "./a", "a/.", ".hidden", "a/.tmp", "a\0b", String(repeating: "k", count: 1025)] {
            XCTAssertNotNil(BlobKey.problem(bad), bad)
            XCTAssertThrowsError(try BlobKey.validate(bad)) { guard case BlobStoreError.refused = $0 else { return XCTFail("\($0)") } }
        }
        for prefix in ["", "a", "a/", "a/b", "a/b/"] { XCTAssertNoThrow(try BlobKey.validatePrefix(prefix), prefix) }
        for prefix in ["/", "/a", "a//", "../", "a/./", ".x"] { XCTAssertThrowsError(try BlobKey.validatePrefix(prefix), prefix) }
    }

    let env = ["NEUROMOD_S3_ENDPOINT": "http://127.0.0.1:8333", "AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"]

    func testParsingS3Locations() throws {
        guard case .s3(let a) = try ObjectStoreLocation.parse("s3://my-bucket/some/prefix", environment: env) else { return XCTFail() }
        XCTAssertEqual(a.bucket, "my-bucket")
        XCTAssertEqual(a.prefix, "some/prefix/")
        XCTAssertEqual(a.endpoint, "http://127.0.0.1:8333")
        XCTAssertEqual(a.region, "us-east-1", "the default region")
        XCTAssertEqual(a.credentials, SigV4.Credentials(accessKey: "AK", secretKey: "SK"))
        XCTAssertEqual(ObjectStoreLocation.s3(a).description, "s3://my-bucket/some/prefix/ at http://127.0.0.1:8333 (region us-east-1)")
        XCTAssertFalse(ObjectStoreLocation.s3(a).description.contains("SK"), "no secret in the description")

        var other = env
        other["NEUROMOD_S3_ENDPOINT"] = nil
        other["AWS_ENDPOINT_URL"] = "https://s3.eu-west-1.amazonaws.com/"
        other["AWS_REGION"] = "eu-west-1"
        other["AWS_SESSION_TOKEN"] = "TOKEN"
        guard case .s3(let b) = try ObjectStoreLocation.parse("s3://bucket.name", environment: other) else { return XCTFail() }
        XCTAssertEqual(b.prefix, "")
        XCTAssertEqual(b.endpoint, "https://s3.eu-west-1.amazonaws.com")
        XCTAssertEqual(b.region, "eu-west-1")
        XCTAssertEqual(b.credentials.sessionToken, "TOKEN")
        guard case .s3(let c) = try ObjectStoreLocation.parse("s3://bucket/p/", environment: env) else { return XCTFail() }
        XCTAssertEqual(c.prefix, "p/")

        let store = try ObjectStoreLocation.parse("s3://bucket/p", environment: env).makeStore()
        XCTAssertEqual(store.description, "s3://bucket/p/ at http://127.0.0.1:8333")
    }

    func testParsingFolderLocations() throws {
        guard case .folder(let odd) = try ObjectStoreLocation.parse("/srv/a://b", environment: [:]) else { return XCTFail() }
        XCTAssertEqual(odd.path, "/srv/a:/b", "a path, not a scheme")
        for text in ["/srv/blobs", "/srv/x/../blobs/", "file:///srv/blobs/"] {
            guard case .folder(let url) = try ObjectStoreLocation.parse(text, environment: [:]) else { return XCTFail(text) }
            XCTAssertEqual(url.path, "/srv/blobs", text)
        }
        guard case .folder(let relative) = try ObjectStoreLocation.parse("data/blobs", environment: [:]) else { return XCTFail() }
        XCTAssertEqual(relative.path, URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("data/blobs").path)
        XCTAssertEqual(try ObjectStoreLocation.parse("/srv/blobs", environment: [:]).makeStore().description, "folder /srv/blobs")
    }

    /// Each malformed location or missing variable says what is wrong, by name.
    func testParseErrorsNameTheProblem() {
        func message(_ text: String, _ environment: [String: String]) -> String {
            do {
                _ = try ObjectStoreLocation.parse(text, environment: environment)
                return "parsed"
            } catch {
                return "\(error)"
            }
        }
        var noEndpoint = env
        noEndpoint["NEUROMOD_S3_ENDPOINT"] = ""
        XCTAssertTrue(message("s3://bucket/x", noEndpoint).contains("NEUROMOD_S3_ENDPOINT"))
        XCTAssertTrue(message("s3://bucket/x", noEndpoint).contains("AWS_ENDPOINT_URL"))
        var noSecret = env
        noSecret["AWS_SECRET_ACCESS_KEY"] = nil
        XCTAssertTrue(message("s3://bucket/x", noSecret).contains("set AWS_SECRET_ACCESS_KEY"), message("s3://bucket/x", noSecret))
        XCTAssertFalse(message("s3://bucket/x", noSecret).contains("AWS_ACCESS_KEY_ID"))
        XCTAssertTrue(message("s3://bucket/x", ["NEUROMOD_S3_ENDPOINT": "http://h:1"]).contains("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"))
        var badEndpoint = env
        badEndpoint["NEUROMOD_S3_ENDPOINT"] = "ftp://host"
        XCTAssertTrue(message("s3://bucket/x", badEndpoint).contains("NEUROMOD_S3_ENDPOINT=ftp://host is not an endpoint"))
        badEndpoint["NEUROMOD_S3_ENDPOINT"] = "http://host:9000/path"
        XCTAssertTrue(message("s3://bucket/x", badEndpoint).contains("without a path"))
        XCTAssertTrue(message("s3://", env).contains("no bucket"))
        XCTAssertTrue(message("s3:///prefix", env).contains("no bucket"))
        XCTAssertTrue(message("s3://Bucket_Name/x", env).contains("lower-case"))
        XCTAssertTrue(message("s3://ab/x", env).contains("3 to 63"))
        XCTAssertTrue(message("s3://-bucket/x", env).contains("start and end"))
        XCTAssertTrue(message("s3://bucket//x", env).contains("starts with /"))
        XCTAssertTrue(message("s3://bucket/a//x", env).contains("empty segment"))
        XCTAssertTrue(message("s3://bucket/a/../b", env).contains(".."))
        XCTAssertTrue(message("s3://bucket/x?versionId=1", env).contains("query"))
        XCTAssertTrue(message("gs://bucket/x", env).contains("unsupported scheme gs://"))
        XCTAssertTrue(message("file://relative", env).contains("absolute path"))
        XCTAssertTrue(message("  ", env).contains("empty"))
    }
}
