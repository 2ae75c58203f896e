import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Checkpoint files under `<data>/checkpoints/<run id>/<checkpoint id>.safetensors`, written
/// atomically (temporary file, fsync, rename, fsync of the folder). Names come from our own ids only.
public struct CheckpointFiles: Sendable {
    public let root: URL

    public init(root: URL) {
        self.root = root
    }

    /// The relative name stored in the database.
    public func relativeName(runID: String, checkpointID: String) -> String {
        "\(runID)/\(checkpointID).safetensors"
    }

    public func url(relative: String) -> URL {
        root.appendingPathComponent(relative)
    }

    /// Writes `data` durably; the file appears complete or not at all.
    public func write(_ data: Data, relative: String) throws {
        let target = url(relative: relative)
        let dir = target.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let temp = dir.appendingPathComponent(".\(target.lastPathComponent).tmp")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw JobError.io("cannot create \(temp.path): \(String(cString: strerror(errno)))") }
        var ok = true
        var failure = ""
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    ok = false
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += n
            }
        }
        if ok && fsync(fd) != 0 { ok = false; failure = String(cString: strerror(errno)) }
        close(fd)
        guard ok else {
            unlink(temp.path)
            throw JobError.io("cannot write checkpoint \(relative): \(failure)")
        }
        guard rename(temp.path, target.path) == 0 else {
            unlink(temp.path)
            throw JobError.io("cannot rename checkpoint into place: \(String(cString: strerror(errno)))")
        }
        let dfd = open(dir.path, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    public func read(relative: String) throws -> Data {
        try Data(contentsOf: url(relative: relative))
    }

    /// Removes a checkpoint file (retention); a missing file is not an error.
    public func remove(relative: String) {
        unlink(url(relative: relative).path)
    }
}

/// Failures of the worker queue that are not the spec's fault.
public enum JobError: Error, CustomStringConvertible, Sendable {
    case io(String)
    /// The disk quota would be passed (the run fails; retrying would not help).
    case quota(String)
    public var description: String {
        switch self {
        case .io(let s), .quota(let s): return s
        }
    }
}
