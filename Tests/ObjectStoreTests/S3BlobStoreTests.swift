import Foundation
import XCTest
import TestSupport
@testable import ObjectStore

/// The S3 store against a real SeaweedFS (one server for the class): multipart uploads read
/// back across part boundaries, listings across pages, a failed upload that leaves no object,
/// and the blob store's errors.
final class S3BlobStoreTests: XCTestCase {
    nonisolated(unsafe) static var server: SeaweedServer?

    override class func tearDown() {
        server = nil   // stops weed
        super.tearDown()
    }

    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nm-s3files-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func client(bucket: String = "neuromod-blobs") throws -> S3Client {
        if Self.server == nil { Self.server = try SeaweedServer() }
        let s3 = try S3Client(endpoint: Self.server!.endpoint, bucket: bucket, region: "us-east-1",
                              credentials: .init(accessKey: SeaweedServer.accessKey, secretKey: SeaweedServer.secretKey))
        try s3.createBucket()
        return s3
    }

    func file(_ name: String, _ data: Data) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    func testMultipartRoundTripAcrossPartBoundaries() throws {
        let s3 = try client()
        let part = 5 << 20
        let data = FolderBlobStoreTests.bytes(12 << 20 | 12_345, seed: 3)   // parts of 5, 5 and 2+ MiB
        let source = try file("big.bin", data)
        var reports: [Int] = []
        try s3.putFile("multi/big.bin", file: source, partSize: part) { sent, total in
            XCTAssertEqual(total, data.count)
            reports.append(sent)
        }
        XCTAssertEqual(reports, [part, 2 * part, data.count], "three parts")
        XCTAssertEqual(try s3.size("multi/big.bin"), data.count)
        for boundary in [part, 2 * part] {
            XCTAssertEqual(try s3.get("multi/big.bin", range: (boundary - 3)...(boundary + 2)), data[(boundary - 3)...(boundary + 2)], "around \(boundary)")
        }
        XCTAssertEqual(try s3.get("multi/big.bin", range: 0...9), data[0...9])
        XCTAssertEqual(try s3.get("multi/big.bin", range: (data.count - 10)...(data.count + 100)), data[(data.count - 10)...], "cut at the end")
        // The whole object, streamed into a file through the blob store (atomic fetch).
        let store = S3BlobStore(client: s3, prefix: "multi", partSize: part)
        let out = dir.appendingPathComponent("fetched/big.bin")
        try store.fetch("big.bin", to: out)
        XCTAssertEqual(try Data(contentsOf: out), data)
        XCTAssertEqual(try s3.pendingUploads(prefix: "multi/"), [], "completed, not pending")
        // A file that fits in one part goes up in one PUT.
        let before = s3.requestCount
        try store.put("small.bin", file: try file("small.bin", data.prefix(1000)))
        XCTAssertEqual(s3.requestCount - before, 1)
        XCTAssertEqual(try store.get("small.bin"), data.prefix(1000))
    }

    /// A file that shrinks while it is uploaded: the upload is aborted, no object appears, and an
    /// object already under the key stays as it was.
    func testAFailedMultipartUploadLeavesNoObject() throws {
        let s3 = try client()
        let store = S3BlobStore(client: s3, prefix: "failing", partSize: 5 << 20)
        let data = FolderBlobStoreTests.bytes(12 << 20, seed: 4)
        for key in ["new.bin", "old.bin"] {
            if key == "old.bin" { try store.put(key, data: Data("old".utf8)) }
            let source = try file(key, data)
            XCTAssertThrowsError(try s3.putFile("failing/\(key)", file: source, partSize: 5 << 20) { sent, _ in
                if sent == 5 << 20 { try? FileHandle(forWritingTo: source).truncate(atOffset: 6 << 20) }   // after part 1
            }) { XCTAssertTrue($0 is LocalFileError, "\($0)") }
        }
        XCTAssertNil(try store.size("new.bin"))
        XCTAssertEqual(try store.get("old.bin"), Data("old".utf8))
        XCTAssertEqual(try s3.pendingUploads(prefix: "failing/"), [], "aborted")
        // (The listing of pending uploads does show one that is under way.)
        let id = try s3.createMultipartUpload("failing/pending.bin")
        XCTAssertEqual(try s3.pendingUploads(prefix: "failing/"), [S3Client.PendingUpload(key: "failing/pending.bin", uploadID: id)])
        try s3.abortMultipartUpload("failing/pending.bin", uploadID: id)
        try s3.abortMultipartUpload("failing/pending.bin", uploadID: id)   // gone already: fine
        XCTAssertEqual(try s3.pendingUploads(prefix: "failing/"), [])
        // Through the blob store, a file that cannot be read is an I/O error.
        XCTAssertThrowsError(try store.put("none.bin", file: dir.appendingPathComponent("missing"))) {
            guard case BlobStoreError.io = $0 else { return XCTFail("\($0)") }
        }
    }

    func testListingPagesThroughEveryObject() throws {
        let s3 = try client()
        let keys = ["list/a", "list/b&c d.bin", "list/e/f", "list/g", "list/h"]
        for key in keys + ["listing", "other/x"] { try s3.put(key, Data(key.utf8)) }
        // Two at a time: three pages.
        var pages = 0
        var token: String?
        var seen: [String] = []
        repeat {
            let page = try s3.listPage(prefix: "list/", maxKeys: 2, continuationToken: token)
            XCTAssertLessThanOrEqual(page.objects.count, 2)
            seen += page.objects.map(\.key)
            token = page.nextContinuationToken
            pages += 1
        } while token != nil && pages < 10
        XCTAssertEqual(seen, keys)
        XCTAssertEqual(pages, 3)
        let all = try s3.list(prefix: "list/", maxKeys: 2)
        XCTAssertEqual(all.map(\.key), keys)
        XCTAssertEqual(all.map(\.size), keys.map { $0.utf8.count })
        for object in all { XCTAssertLessThan(abs(object.lastModified.timeIntervalSinceNow), 300, "\(object.lastModified)") }
        XCTAssertEqual(try s3.list(prefix: "nothing/"), [])
        // The blob store takes its prefix off.
        let store = S3BlobStore(client: s3, prefix: "list/")
        XCTAssertEqual(try store.list(prefix: "").map(\.key), ["a", "b&c d.bin", "e/f", "g", "h"])
        XCTAssertEqual(try store.list(prefix: "e/").map(\.key), ["e/f"])
        XCTAssertEqual(try S3BlobStore(client: s3, prefix: "").list(prefix: "list").map(\.key), keys + ["listing"])
    }

    func testBlobStoreRoundTripAndErrors() throws {
        let s3 = try client()
        let store = S3BlobStore(client: s3, prefix: "/store/")
        XCTAssertEqual(store.prefix, "store/")
        XCTAssertEqual(store.description, "s3://neuromod-blobs/store/ at \(s3.endpoint)")
        let data = FolderBlobStoreTests.bytes(10_000, seed: 5)
        try store.put("ckpt/run_1.bin", data: data)
        XCTAssertEqual(try s3.get("store/ckpt/run_1.bin"), data, "under the prefix")
        XCTAssertEqual(try store.get("ckpt/run_1.bin"), data)
        XCTAssertEqual(try store.get("ckpt/run_1.bin", range: 100...199), data[100...199])
        XCTAssertEqual(try store.size("ckpt/run_1.bin"), data.count)
        XCTAssertNil(try store.size("ckpt/none"))
        XCTAssertThrowsError(try store.get("ckpt/none")) { XCTAssertEqual($0 as? BlobStoreError, .notFound("ckpt/none")) }
        XCTAssertThrowsError(try store.get("ckpt/run_1.bin", range: 20_000...20_010)) {
            guard case BlobStoreError.refused = $0 else { return XCTFail("\($0)") }
        }
        let out = dir.appendingPathComponent("out.bin")
        try Data("before".utf8).write(to: out)
        XCTAssertThrowsError(try store.fetch("ckpt/none", to: out)) { XCTAssertEqual($0 as? BlobStoreError, .notFound("ckpt/none")) }
        XCTAssertEqual(try Data(contentsOf: out), Data("before".utf8), "a failed fetch leaves the file as it was")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["out.bin"], "no temporary file left")
        try store.delete("ckpt/run_1.bin")
        try store.delete("ckpt/run_1.bin")   // absent: fine
        XCTAssertNil(try store.size("ckpt/run_1.bin"))
        XCTAssertThrowsError(try store.put("../escape", data: data)) { guard case BlobStoreError.refused = $0 else { return XCTFail("\($0)") } }
        // Reading from a bucket that does not exist is refused (not "no object"), not retried.
        // (SeaweedFS creates a bucket on the first PUT into it; AWS answers NoSuchBucket.)
        let missing = try S3Client(endpoint: s3.endpoint, bucket: "no-such-bucket-here", region: "us-east-1",
                                   credentials: .init(accessKey: SeaweedServer.accessKey, secretKey: SeaweedServer.secretKey))
        let nowhere = S3BlobStore(client: missing, prefix: "")
        XCTAssertThrowsError(try nowhere.get("x")) { XCTAssertTrue("\($0)".contains("NoSuchBucket"), "\($0)") }
        XCTAssertThrowsError(try nowhere.list(prefix: "")) { guard case BlobStoreError.refused = $0 else { return XCTFail("\($0)") } }
        XCTAssertEqual(missing.requestCount, 2)
        XCTAssertEqual(missing.retryCount, 0)
    }
}
