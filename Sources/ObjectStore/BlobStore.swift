import Foundation

/// Where the service keeps blobs (checkpoints, uploaded data sets): a local folder
/// (``FolderBlobStore``) or an S3-compatible bucket (``S3BlobStore``).
///
/// Keys are relative, `/`-separated paths: not empty, no leading `/`, no empty segments, and no
/// segment starting with `.` (so no `.` or `..`, and nothing that could be taken for a temporary
/// file). Both stores refuse other keys alike, so a key that works on one works on the other.
/// Every failure is a ``BlobStoreError``.
public protocol BlobStore: Sendable {
    /// Stores `data` under `key`, durably and all-or-nothing (a reader sees the old object or
    /// the whole new one, never a part).
    func put(_ key: String, data: Data) throws
    /// Stores the file's bytes under `key` without holding them all in memory (multipart on S3);
    /// all-or-nothing like ``put(_:data:)``.
    func put(_ key: String, file: URL) throws
    /// The whole object; ``BlobStoreError/notFound(_:)`` when there is none.
    func get(_ key: String) throws -> Data
    /// The bytes `range` of the object (cut short at its end); a range starting at or past the
    /// end is ``BlobStoreError/refused(_:)``.
    func get(_ key: String, range: ClosedRange<Int>) throws -> Data
    /// The object's size in bytes, nil when there is none.
    func size(_ key: String) throws -> Int?
    /// Removes the object; an absent one is fine.
    func delete(_ key: String) throws
    /// Every object whose key starts with `prefix` (a plain string prefix, not only a folder), in
    /// key order (bytewise, as S3 orders them).
    func list(prefix: String) throws -> [BlobInfo]
    /// Copies the object into the local `file` (for big data sets): streamed, and atomic (the
    /// file appears whole under its name, or is left as it was).
    func fetch(_ key: String, to file: URL) throws
    /// Where the blobs are, for logs: `folder /x` or `s3://bucket/prefix at http://…`.
    var description: String { get }
}

/// An object as a listing describes it.
public struct BlobInfo: Sendable, Equatable {
    /// The key, relative to the store (an S3 store's prefix taken off).
    public let key: String
    public let size: Int
    public let modified: Date
    public init(key: String, size: Int, modified: Date) {
        self.key = key
        self.size = size
        self.modified = modified
    }
}

/// Why a blob operation failed.
public enum BlobStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No object under the key.
    case notFound(String)
    /// The store could not be reached or kept failing (after the retries): trying later may work.
    case unavailable(String)
    /// The store (or this module) refused the request: a bad key, credentials it does not
    /// accept (403), a range outside the object. Trying again will not help.
    case refused(String)
    /// A local file could not be read or written.
    case io(String)

    public var description: String {
        switch self {
        case .notFound(let key): return "no object under \(key)"
        case .unavailable(let s): return "store unavailable: \(s)"
        case .refused(let s): return "refused: \(s)"
        case .io(let s): return "I/O error: \(s)"
        }
    }
}

/// The key rules both stores share.
enum BlobKey {
    /// Throws ``BlobStoreError/refused(_:)`` unless `key` is a valid key.
    static func validate(_ key: String) throws {
        if let problem = problem(key) { throw BlobStoreError.refused("invalid key \"\(key)\": \(problem)") }
    }

    /// Like ``validate(_:)`` for a listing prefix: empty is fine, and the last segment may be
    /// partial (even empty, for "everything in this folder").
    static func validatePrefix(_ prefix: String) throws {
        guard !prefix.isEmpty else { return }
        if let problem = problem(prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix) {
            throw BlobStoreError.refused("invalid prefix \"\(prefix)\": \(problem)")
        }
    }

    static func problem(_ key: String) -> String? {
        if key.isEmpty { return "empty" }
        if key.utf8.count > 1024 { return "longer than 1024 bytes" }
        if key.hasPrefix("/") { return "starts with /" }
        if key.contains("\0") { return "contains a NUL byte" }
        for segment in key.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { return "has an empty segment" }
            if segment == "." || segment == ".." { return "has a \(segment) segment" }
            if segment.hasPrefix(".") { return "has a segment starting with ." }
        }
        return nil
    }
}
