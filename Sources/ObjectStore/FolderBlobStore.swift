import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Blobs as files under a local folder: the key `a/b/c.bin` is the file `<root>/a/b/c.bin`.
/// Writes are atomic and durable (temporary file beside the target, fsync, rename, fsync of the
/// folder); temporary files start with `.`, and listings skip every name starting with `.`.
public struct FolderBlobStore: BlobStore {
    public let root: URL

    /// `root` is created on the first write if it does not exist.
    public init(root: URL) {
        self.root = root.standardizedFileURL
    }

    public var description: String { "folder \(root.path)" }

    /// The file a key is kept in (after checking the key).
    public func url(for key: String) throws -> URL {
        try BlobKey.validate(key)
        return root.appendingPathComponent(key)
    }

    public func put(_ key: String, data: Data) throws {
        let target = try url(for: key)
        try DurableFile.replace(target) { temp in try DurableFile.write(data, to: temp) }
    }

    public func put(_ key: String, file: URL) throws {
        let target = try url(for: key)
        try DurableFile.replace(target) { temp in try DurableFile.copy(file, to: temp) }
    }

    public func get(_ key: String) throws -> Data {
        let target = try url(for: key)
        return try withFile(target, key: key) { fd, size in try readAt(fd, offset: 0, count: size, path: target.path) }
    }

    public func get(_ key: String, range: ClosedRange<Int>) throws -> Data {
        let target = try url(for: key)
        return try withFile(target, key: key) { fd, size in
            guard range.lowerBound >= 0, range.lowerBound < size else {
                throw BlobStoreError.refused("range \(range.lowerBound)-\(range.upperBound) outside \(key) (\(size) bytes)")
            }
            return try readAt(fd, offset: range.lowerBound, count: min(range.upperBound, size - 1) - range.lowerBound + 1, path: target.path)
        }
    }

    public func size(_ key: String) throws -> Int? {
        let target = try url(for: key)
        var st = stat()
        guard stat(target.path, &st) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw DurableFile.io("cannot stat \(target.path)")
        }
        return (st.st_mode & S_IFMT) == S_IFREG ? Int(st.st_size) : nil
    }

    public func delete(_ key: String) throws {
        let target = try url(for: key)
        guard unlink(target.path) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return }
            if errno == EISDIR || errno == EPERM { return }   // a folder is not an object
            throw DurableFile.io("cannot delete \(target.path)")
        }
        DurableFile.syncDirectory(target.deletingLastPathComponent())
    }

    public func list(prefix: String) throws -> [BlobInfo] {
        try BlobKey.validatePrefix(prefix)
        // Walk only the deepest folder the prefix names in full.
        let folder = prefix.range(of: "/", options: .backwards).map { String(prefix[..<$0.lowerBound]) } ?? ""
        var out: [BlobInfo] = []
        try walk(folder.isEmpty ? root : root.appendingPathComponent(folder), key: folder, prefix: prefix, into: &out)
        return out.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    public func fetch(_ key: String, to file: URL) throws {
        let source = try url(for: key)
        guard try size(key) != nil else { throw BlobStoreError.notFound(key) }
        try DurableFile.replace(file) { temp in
            do { try DurableFile.copy(source, to: temp) } catch BlobStoreError.io(_) where (try? size(key)) == nil {
                throw BlobStoreError.notFound(key)   // deleted meanwhile
            }
        }
    }

    // MARK: - Files

    private func walk(_ dir: URL, key: String, prefix: String, into out: inout [BlobInfo]) throws {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        } catch {
            var st = stat()
            if stat(dir.path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR) { return }   // nothing there yet
            throw BlobStoreError.io("cannot list \(dir.path): \(error.localizedDescription)")
        }
        for name in names where !name.hasPrefix(".") {
            let childKey = key.isEmpty ? name : key + "/" + name
            // Only what can still start with the prefix (a folder may hold keys that do).
            guard childKey.hasPrefix(prefix) || prefix.hasPrefix(childKey + "/") else { continue }
            let child = dir.appendingPathComponent(name)
            var st = stat()
            guard lstat(child.path, &st) == 0 else { continue }   // removed meanwhile
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                try walk(child, key: childKey, prefix: prefix, into: &out)
            case S_IFREG, S_IFLNK:
                // A link to a file counts (a data set linked in); a link to a folder is not followed.
                if (st.st_mode & S_IFMT) == S_IFLNK && (stat(child.path, &st) != 0 || (st.st_mode & S_IFMT) != S_IFREG) { continue }
                guard childKey.hasPrefix(prefix) else { continue }
                let modified = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
                out.append(BlobInfo(key: childKey, size: Int(st.st_size), modified: Date(timeIntervalSince1970: modified)))
            default:
                continue
            }
        }
    }

    /// Opens the key's file for reading and passes its descriptor and size; a missing file (or a
    /// folder) is ``BlobStoreError/notFound(_:)``.
    private func withFile<T>(_ url: URL, key: String, _ body: (Int32, Int) throws -> T) throws -> T {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw BlobStoreError.notFound(key) }
            throw DurableFile.io("cannot open \(url.path)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DurableFile.io("cannot stat \(url.path)") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw BlobStoreError.notFound(key) }
        return try body(fd, Int(st.st_size))
    }

    private func readAt(_ fd: Int32, offset: Int, count: Int, path: String) throws -> Data {
        var data = Data(count: count)
        var done = 0
        try data.withUnsafeMutableBytes { raw in
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw DurableFile.io("cannot read \(path)")
                }
                if n == 0 { break }   // the file shrank meanwhile
                done += n
            }
        }
        return done == count ? data : data.prefix(done)
    }
}
