import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Local files written the way `CheckpointFiles` writes them: into a temporary file beside the
/// target (a name starting with `.`), fsync, rename over the target, fsync of the folder. A
/// reader sees the old file or the whole new one; after a crash, one of the two survives.
enum DurableFile {
    /// Replaces `target` with what `fill` writes into the temporary file it is given (created
    /// empty). Folders on the way are created (durably). On failure the temporary file is removed,
    /// `target` is untouched, and `fill`'s error is rethrown as it is; this function's own
    /// failures are ``BlobStoreError/io(_:)``.
    static func replace(_ target: URL, fill: (URL) throws -> Void) throws {
        let dir = target.deletingLastPathComponent()
        try makeDirectories(dir)
        let temp = dir.appendingPathComponent(".\(target.lastPathComponent).\(UUID().uuidString.prefix(8)).tmp")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw io("cannot create \(temp.path)") }
        close(fd)
        do {
            try fill(temp)
            try sync(temp)
            guard rename(temp.path, target.path) == 0 else { throw io("cannot rename \(temp.path) to \(target.path)") }
        } catch {
            unlink(temp.path)
            throw error
        }
        syncDirectory(dir)
    }

    /// Writes all of `data` into the file at `url` (from its start).
    static func write(_ data: Data, to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw io("cannot open \(url.path)") }
        defer { close(fd) }
        try data.withUnsafeBytes { raw in try writeAll(fd, raw, path: url.path) }
    }

    /// Copies `source` into the file at `url` (from its start), 1 MiB at a time.
    static func copy(_ source: URL, to url: URL) throws {
        let input = open(source.path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw io("cannot open \(source.path)") }
        defer { close(input) }
        let output = open(url.path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard output >= 0 else { throw io("cannot open \(url.path)") }
        defer { close(output) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(input, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw io("cannot read \(source.path)")
            }
            if n == 0 { return }
            try writeAll(output, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), path: url.path)
        }
    }

    static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw io("cannot write \(path)")
            }
            offset += n
        }
    }

    /// fsync of a file's content.
    static func sync(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw io("cannot open \(url.path)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw io("cannot fsync \(url.path)") }
    }

    /// fsync of a folder (so a rename or a new entry in it survives a crash); best effort.
    static func syncDirectory(_ dir: URL) {
        let fd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    /// Creates `dir` and the folders above it that are missing, each made durable in its parent.
    static func makeDirectories(_ dir: URL) throws {
        var missing: [URL] = []
        var cursor = dir.standardizedFileURL
        var isDirectory: ObjCBool = false
        while !FileManager.default.fileExists(atPath: cursor.path, isDirectory: &isDirectory) {
            missing.append(cursor)
            let parent = cursor.deletingLastPathComponent()
            if parent.path == cursor.path { break }
            cursor = parent
        }
        if missing.isEmpty && !isDirectory.boolValue { throw BlobStoreError.io("\(dir.path) is not a folder") }
        for folder in missing.reversed() {
            if mkdir(folder.path, 0o755) != 0 && errno != EEXIST { throw io("cannot create folder \(folder.path)") }
            syncDirectory(folder.deletingLastPathComponent())
        }
    }

    /// An ``BlobStoreError/io(_:)`` with `what` and the current `errno`'s text.
    static func io(_ what: String) -> BlobStoreError {
        .io("\(what): \(String(cString: strerror(errno)))")
    }
}
