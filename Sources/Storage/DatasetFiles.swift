import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Uploaded data-set files under `<data>/datasets/`: `<id>.<format>` once accepted, and
/// `.upload-<random>.part` while one is being received. An upload becomes a data set only by
/// ``DatasetFiles/commit(_:id:format:)`` (fsync, rename, fsync of the folder); a part file whose
/// upload failed is removed at once, and any left by a crash are swept at start-up.
public struct DatasetFiles: Sendable {
    public let root: URL

    public init(root: URL) throws {
        self.root = root
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    /// Without creating the folder (uploads then fail with a clear error if it is missing).
    public init(unchecked root: URL) {
        self.root = root
    }

    /// The file of an accepted data set.
    public func url(id: String, format: String) -> URL {
        root.appendingPathComponent("\(id).\(format)")
    }

    /// A new part file for an upload, opened for writing.
    public func startUpload() throws -> UploadFile {
        var g = SystemRandomNumberGenerator()
        let url = root.appendingPathComponent(".upload-\(String(g.next(), radix: 16)).part")
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw JobError.io("cannot create \(url.path): \(String(cString: strerror(errno)))") }
        return UploadFile(url: url, fd: fd)
    }

    /// Moves a complete upload into place as data set `id`.
    public func commit(_ upload: UploadFile, id: String, format: String) throws -> URL {
        let target = url(id: id, format: format)
        guard rename(upload.url.path, target.path) == 0 else {
            throw JobError.io("cannot move the upload into place: \(String(cString: strerror(errno)))")
        }
        let dfd = open(root.path, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
        return target
    }

    /// Removes a data set's file; a missing file is not an error.
    public func remove(id: String, format: String) {
        unlink(url(id: id, format: format).path)
    }

    /// Removes part files left by uploads a crash interrupted, and data-set files `isRecorded`
    /// does not know (a crash between the rename and the row, or between a deleted row and its
    /// file); returns how many.
    @discardableResult
    public func sweepAbandonedUploads(isRecorded: (String) -> Bool = { _ in true }) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        var n = 0
        for name in names {
            let stale: Bool
            if name.hasPrefix(".upload-") && name.hasSuffix(".part") {
                stale = true
            } else if name.hasPrefix("ds_"), let dot = name.firstIndex(of: ".") {
                stale = !isRecorded(String(name[..<dot]))
            } else {
                stale = false
            }
            if stale && unlink(root.appendingPathComponent(name).path) == 0 { n += 1 }
        }
        return n
    }
}

/// One upload being written: appended to as the body arrives, hashed on the way (SHA-256 by
/// the caller), then closed durably (`finish`) or deleted (`discard`).
public final class UploadFile: @unchecked Sendable {
    public let url: URL
    private var fd: Int32
    public private(set) var bytes = 0

    init(url: URL, fd: Int32) {
        self.url = url
        self.fd = fd
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends bytes; throws on a failed write (a full disk: ENOSPC).
    public func append(_ chunk: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < chunk.count {
            let n = Glibc.write(fd, chunk.baseAddress! + offset, chunk.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw UploadError(code: errno, message: String(cString: strerror(errno)))
            }
            offset += n
        }
        bytes += chunk.count
    }

    /// Makes the file durable and closes it.
    public func finish() throws {
        guard fd >= 0 else { return }
        let failed = fsync(fd) != 0
        let code = errno
        close(fd)
        fd = -1
        if failed { throw UploadError(code: code, message: "fsync failed: \(String(cString: strerror(code)))") }
    }

    /// Deletes the part file (an upload that failed or was refused).
    public func discard() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(url.path)
    }
}

/// A failed write of an upload; `code` is the errno (ENOSPC: no space left).
public struct UploadError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public var description: String { message }
}
