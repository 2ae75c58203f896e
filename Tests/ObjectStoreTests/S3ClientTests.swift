import Foundation
import XCTest
import TestSupport
@testable import ObjectStore

/// The S3 client against a real SeaweedFS on loopback, signatures enforced: a bucket, objects
/// written, read whole and by range, sized, deleted; a wrong secret is refused.
final class S3ClientTests: XCTestCase {
    func testObjectsRoundTripAndSignaturesAreChecked() throws {
        let server = try SeaweedServer()
        let s3 = try S3Client(endpoint: server.endpoint, bucket: "neuromod-test", region: "us-east-1",
                              credentials: .init(accessKey: SeaweedServer.accessKey, secretKey: SeaweedServer.secretKey))
        try s3.createBucket()
        try s3.createBucket()   // again: ours already
        var bytes = Data(count: 300_000)
        for i in 0..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 31) }
        let key = "checkpoints/run_1/ckpt a+b.safetensors"   // a space and a plus: encoded in the path and the signature alike
        try s3.put(key, bytes)
        XCTAssertEqual(try s3.get(key), bytes)
        XCTAssertEqual(try s3.get(key, range: 1000...1999), bytes[1000...1999], "Range passes through")
        XCTAssertEqual(try s3.size(key), bytes.count)
        XCTAssertNil(try s3.size("checkpoints/none"))
        XCTAssertThrowsError(try s3.get("checkpoints/none")) { XCTAssertTrue(($0 as? S3Error)?.isNotFound ?? false, "\($0)") }
        try s3.delete(key)
        XCTAssertNil(try s3.size(key))
        // A wrong secret is refused: the signature is checked.
        let forged = try S3Client(endpoint: server.endpoint, bucket: "neuromod-test", region: "us-east-1",
                                  credentials: .init(accessKey: SeaweedServer.accessKey, secretKey: "wrong-secret-wrong-secret"))
        XCTAssertThrowsError(try forged.put("x", Data("x".utf8))) { XCTAssertEqual(($0 as? S3Error)?.status, 403, "\($0)") }
    }
}
