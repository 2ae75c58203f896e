import XCTest
import ObjectStore
#if canImport(Glibc)
import Glibc
#endif

/// Checkpoints named in a blob store, and the sweep of objects no row records: only those older
/// than the grace period go (a younger one may be a write another node is about to record).
final class CheckpointFilesTests: XCTestCase {
    func testWriteReadRangeRemoveAndTheOrphanSweep() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nm-ckpt-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let files = CheckpointFiles(blobs: FolderBlobStore(root: root))
        let name = files.relativeName(runID: "run_a", checkpointID: "ckpt_1")
        XCTAssertEqual(name, "run_a/ckpt_1.safetensors")
        try files.write(Data("0123456789".utf8), relative: name)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("checkpoints/run_a/ckpt_1.safetensors").path),
                      "the data folder's layout: <data>/checkpoints/<run>/<id>.safetensors")
        XCTAssertEqual(try files.read(relative: name), Data("0123456789".utf8))
        XCTAssertEqual(try files.read(relative: name, range: 3...5), Data("345".utf8))

        for id in ["ckpt_2", "ckpt_3", "ckpt_4"] {
            try files.write(Data(id.utf8), relative: files.relativeName(runID: "run_a", checkpointID: id))
        }
        // ckpt_1 and ckpt_2 are two hours old; ckpt_1 and ckpt_3 are recorded.
        for id in ["ckpt_1", "ckpt_2"] {
            let path = root.appendingPathComponent("checkpoints/run_a/\(id).safetensors").path
            var times = [timespec(tv_sec: time(nil) - 7200, tv_nsec: 0), timespec(tv_sec: time(nil) - 7200, tv_nsec: 0)]
            XCTAssertEqual(utimensat(AT_FDCWD, path, &times, 0), 0)
        }
        let recorded: Set = ["run_a/ckpt_1.safetensors", "run_a/ckpt_3.safetensors"]
        XCTAssertEqual(try files.sweepOrphans(grace: 3600) { recorded.contains($0) }, 1)
        let left = try files.blobs.list(prefix: "checkpoints/").map(\.key)
        XCTAssertEqual(left, ["checkpoints/run_a/ckpt_1.safetensors", "checkpoints/run_a/ckpt_3.safetensors",
                              "checkpoints/run_a/ckpt_4.safetensors"], "the old orphan went; the young one stays")
        files.remove(relative: name)
        files.remove(relative: name)   // absent: fine
        XCTAssertThrowsError(try files.read(relative: name)) { XCTAssertEqual($0 as? BlobStoreError, .notFound("checkpoints/run_a/ckpt_1.safetensors")) }
    }
}
