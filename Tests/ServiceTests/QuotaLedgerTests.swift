import XCTest
import Storage
@testable import API

/// The disk quota counts stored bytes plus reservations of uploads in progress. When an upload is
/// recorded (or dropped) its bytes move out of the reservations in the same step, so no upload
/// arriving meanwhile sees them counted twice.
final class QuotaLedgerTests: XCTestCase {
    func testRecordingAnUploadNeverCountsItsBytesTwice() throws {
        let dir = try Paths.temporaryDirectory("quota-ledger")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try DatasetFiles(root: dir)
        let stored = Counter()
        // Room for exactly three uploads of 100 bytes.
        let ledger = QuotaLedger(quota: 300) { stored.value }
        var sinks: [DatasetUploadSink] = []
        for _ in 0..<2 {
            XCTAssertTrue(ledger.reserve(100))
            sinks.append(DatasetUploadSink(file: try files.startUpload(), ledger: ledger, reserved: 100))
        }
        // The first is recorded slowly; a third upload asks for its 100 bytes in the middle.
        let third = expectation(description: "the third reservation is answered")
        let granted = Counter()
        try sinks[0].releaseReservation(after: {
            stored.value += 100
            DispatchQueue.global().async { granted.value = ledger.reserve(100) ? 1 : -1; third.fulfill() }
            Thread.sleep(forTimeInterval: 0.05)
        })
        wait(for: [third], timeout: 5)
        XCTAssertEqual(granted.value, 1, "100 stored + 100 reserved + 100 asked fits 300")
        XCTAssertEqual(ledger.left, 0)
        // A dropped upload gives its bytes back once, however often it is dropped.
        sinks[1].abort()
        sinks[1].abort()
        XCTAssertEqual(ledger.left, 100)
        XCTAssertFalse(ledger.reserve(101))
        // A recording that fails keeps the reservation until the upload is dropped.
        let sink = DatasetUploadSink(file: try files.startUpload(), ledger: ledger, reserved: 0)
        XCTAssertTrue(ledger.reserve(100))
        let failing = DatasetUploadSink(file: try files.startUpload(), ledger: ledger, reserved: 100)
        XCTAssertThrowsError(try failing.releaseReservation(after: { throw CocoaError(.fileWriteUnknown) }))
        XCTAssertEqual(ledger.left, 0)
        failing.abort()
        XCTAssertEqual(ledger.left, 100)
        sink.abort()
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var value: Int {
        get { lock.lock(); defer { lock.unlock() }; return n }
        set { lock.lock(); n = newValue; lock.unlock() }
    }
}
