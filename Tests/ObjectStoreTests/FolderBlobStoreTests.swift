import Foundation
import XCTest
@testable import ObjectStore

/// The folder store: objects round trip whole and by range, listings by prefix skip temporary
/// files, bad keys are refused, and a failed write leaves nothing (or the old object) behind.
final class FolderBlobStoreTests: XCTestCase {
    var dir: URL!
    var store: FolderBlobStore!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nm-blobs-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        store = FolderBlobStore(root: dir.appendingPathComponent("root"))   // created on the first write
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    static func bytes(_ count: Int, seed: UInt32 = 1) -> Data {
        var state = seed
        return Data((0..<count).map { _ in state = state &* 1_664_525 &+ 1_013_904_223; return UInt8(truncatingIfNeeded: state >> 24) })
    }

    /// Names under the store's folder that start with `.` (temporary files left behind).
    func leftovers() -> [String] {
        (FileManager.default.enumerator(atPath: store.root.path)?.allObjects as? [String] ?? [])
            .filter { $0.split(separator: "/").contains { $0.hasPrefix(".") } }
    }

    func testRoundTripRangesSizesAndDeletes() throws {
        XCTAssertEqual(store.description, "folder \(store.root.path)")
        let data = Self.bytes(100_000)
        try store.put("checkpoints/run_1/ckpt a+b.safetensors", data: data)
        XCTAssertEqual(try store.get("checkpoints/run_1/ckpt a+b.safetensors"), data)
        XCTAssertEqual(try store.size("checkpoints/run_1/ckpt a+b.safetensors"), data.count)
        XCTAssertEqual(try store.get("checkpoints/run_1/ckpt a+b.safetensors", range: 10...19), data[10...19])
        XCTAssertEqual(try store.get("checkpoints/run_1/ckpt a+b.safetensors", range: 99_990...200_000), data[99_990...], "cut short at the end")
        for range in [100_000...100_001, -1...3] {
            XCTAssertThrowsError(try store.get("checkpoints/run_1/ckpt a+b.safetensors", range: range)) {
                guard case BlobStoreError.refused = $0 else { return XCTFail("\($0)") }
            }
        }
        // Overwrite; empty objects are objects.
        try store.put("checkpoints/run_1/ckpt a+b.safetensors", data: Data("new".utf8))
        XCTAssertEqual(try store.get("checkpoints/run_1/ckpt a+b.safetensors"), Data("new".utf8))
        try store.put("empty", data: Data())
        XCTAssertEqual(try store.size("empty"), 0)
        XCTAssertEqual(try store.get("empty"), Data())
        // Absent objects; folders are not objects.
        XCTAssertNil(try store.size("checkpoints/none"))
        XCTAssertNil(try store.size("checkpoints/run_1"))
        XCTAssertNil(try store.size("empty/below"))
        XCTAssertThrowsError(try store.get("checkpoints/none")) { XCTAssertEqual($0 as? BlobStoreError, .notFound("checkpoints/none")) }
        XCTAssertThrowsError(try store.get("checkpoints/run_1")) { XCTAssertEqual($0 as? BlobStoreError, .notFound("checkpoints/run_1")) }
        XCTAssertThrowsError(try store.get("checkpoints/none", range: 0...1)) { XCTAssertEqual($0 as? BlobStoreError, .notFound("checkpoints/none")) }
        try store.delete("checkpoints/run_1/ckpt a+b.safetensors")
        try store.delete("checkpoints/run_1/ckpt a+b.safetensors")   // absent: fine
        try store.delete("never/was")
        XCTAssertNil(try store.size("checkpoints/run_1/ckpt a+b.safetensors"))
        XCTAssertEqual(leftovers(), [])
    }

    func testFilesGoInAndComeOutWhole() throws {
        let source = dir.appendingPathComponent("source.bin")
        let data = Self.bytes(3 << 20, seed: 7)   // several copy buffers
        try data.write(to: source)
        try store.put("datasets/big.bin", file: source)
        XCTAssertEqual(try store.get("datasets/big.bin"), data)
        let out = dir.appendingPathComponent("out/fetched.bin")
        try store.fetch("datasets/big.bin", to: out)
        XCTAssertEqual(try Data(contentsOf: out), data)
        // A failed fetch leaves the destination as it was.
        XCTAssertThrowsError(try store.fetch("datasets/none.bin", to: out)) { XCTAssertEqual($0 as? BlobStoreError, .notFound("datasets/none.bin")) }
        XCTAssertEqual(try Data(contentsOf: out), data)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.deletingLastPathComponent().path), ["fetched.bin"])
    }

    func testListingsByPrefixInKeyOrderSkipTemporaryFiles() throws {
        for key in ["data/train.csv", "data/trial/x.bin", "data/val.csv", "data/b", "dataset.txt", "other/a", "data/Z"] {
            try store.put(key, data: Data(key.utf8))
        }
        // Temporary files of writes under way (or of a crash) are not objects.
        try Data("partial".utf8).write(to: store.root.appendingPathComponent("data/.train.csv.1234.tmp"))
        try FileManager.default.createDirectory(at: store.root.appendingPathComponent(".trash"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: store.root.appendingPathComponent(".trash/y"))
        XCTAssertEqual(try store.list(prefix: "data/tr").map(\.key), ["data/train.csv", "data/trial/x.bin"])
        XCTAssertEqual(try store.list(prefix: "data/").map(\.key), ["data/Z", "data/b", "data/train.csv", "data/trial/x.bin", "data/val.csv"])
        XCTAssertEqual(try store.list(prefix: "data").map(\.key), ["data/Z", "data/b", "data/train.csv", "data/trial/x.bin", "data/val.csv", "dataset.txt"])
        XCTAssertEqual(try store.list(prefix: "").count, 7)
        XCTAssertEqual(try store.list(prefix: "nothing/here"), [])
        let info = try XCTUnwrap(store.list(prefix: "data/val").first)
        XCTAssertEqual(info.size, "data/val.csv".utf8.count)
        XCTAssertLessThan(abs(info.modified.timeIntervalSinceNow), 60)
        XCTAssertEqual(try FolderBlobStore(root: dir.appendingPathComponent("never-made")).list(prefix: ""), [])
    }

    func testBadKeysAreRefusedBeforeTouchingTheDisk() throws {
        let outside = dir.appendingPathComponent("outside")
        for key in ["", "/etc/passwd", "../outside", "a/../../outside", "a//b", "a/", ".hidden", "a/./b"] {
            func refused(_ what: String, _ body: () throws -> Void) {
                XCTAssertThrowsError(try body(), "\(what) \(key)") { guard case BlobStoreError.refused = $0 else { return XCTFail("\(what) \(key): \($0)") } }
            }
            refused("put") { try store.put(key, data: Data("x".utf8)) }
            refused("put file") { try store.put(key, file: URL(fileURLWithPath: "/etc/hostname")) }
            refused("get") { _ = try store.get(key) }
            refused("range") { _ = try store.get(key, range: 0...1) }
            refused("size") { _ = try store.size(key) }
            refused("delete") { try store.delete(key) }
            refused("fetch") { try store.fetch(key, to: dir.appendingPathComponent("f")) }
        }
        XCTAssertThrowsError(try store.list(prefix: "../")) { guard case BlobStoreError.refused = $0 else { return XCTFail("\($0)") } }
        XCTAssertFalse(FileManager.default.fileExists(atPath: outside.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.root.path), "nothing written")
    }

    /// A write that fails half-way leaves no partial file under the key, the old object if there
    /// was one, and no temporary file.
    func testAFailedPutLeavesNothingBehind() throws {
        // Reading a folder as a file: open succeeds, read fails (EISDIR) after the temporary file exists.
        let folder = dir.appendingPathComponent("a-folder")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        XCTAssertThrowsError(try store.put("data/new.bin", file: folder)) { guard case BlobStoreError.io = $0 else { return XCTFail("\($0)") } }
        XCTAssertNil(try store.size("data/new.bin"))
        try store.put("data/old.bin", data: Data("old".utf8))
        XCTAssertThrowsError(try store.put("data/old.bin", file: folder))
        XCTAssertThrowsError(try store.put("data/old.bin", file: dir.appendingPathComponent("missing")))
        XCTAssertEqual(try store.get("data/old.bin"), Data("old".utf8))
        XCTAssertEqual(try store.list(prefix: "").map(\.key), ["data/old.bin"])
        XCTAssertEqual(leftovers(), [])
        // A key whose folder is a file cannot be written; nothing changes.
        XCTAssertThrowsError(try store.put("data/old.bin/child", data: Data("x".utf8))) { guard case BlobStoreError.io = $0 else { return XCTFail("\($0)") } }
        XCTAssertEqual(try store.get("data/old.bin"), Data("old".utf8))
    }

    /// Writers racing on one key: the object is always one writer's bytes, whole.
    func testConcurrentWritersNeverMix() throws {
        let versions = (0..<8).map { Self.bytes(256 << 10, seed: UInt32($0 + 1)) }
        let store = self.store!
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for _ in 0..<3 { try? store.put("race.bin", data: versions[i]) }
        }
        XCTAssertTrue(versions.contains(try store.get("race.bin")))
        XCTAssertEqual(leftovers(), [])
    }
}
