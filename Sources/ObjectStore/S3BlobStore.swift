import Foundation

/// Blobs as objects in an S3-compatible bucket, under a key prefix: the key `a/b.bin` with the
/// prefix `neuromod/` is the object `neuromod/a/b.bin`. Large files go up as multipart uploads;
/// requests are retried under the client's ``RetryPolicy``.
///
/// Errors: 404 → ``BlobStoreError/notFound(_:)``; no answer, 5xx, 429 (after the retries) →
/// ``BlobStoreError/unavailable(_:)``; other 4xx (403: credentials refused) →
/// ``BlobStoreError/refused(_:)``; local file failures → ``BlobStoreError/io(_:)``.
public struct S3BlobStore: BlobStore {
    public let client: S3Client
    /// Empty, or ending with `/`.
    public let prefix: String
    /// Bytes per part of a multipart upload (`put(_:file:)`).
    public let partSize: Int

    /// `prefix` like `neuromod/prod` (a trailing `/` is added; empty: the bucket's root).
    public init(client: S3Client, prefix: String, partSize: Int = 8 << 20) {
        self.client = client
        var p = prefix
        while p.hasPrefix("/") { p.removeFirst() }
        self.prefix = p.isEmpty || p.hasSuffix("/") ? p : p + "/"
        self.partSize = max(S3Client.minimumPartSize, partSize)
    }

    public var description: String {
        "s3://\(client.bucket)/\(prefix) at \(client.endpoint)"
    }

    public func put(_ key: String, data: Data) throws {
        let object = try objectKey(key)
        try mapped(key) { try client.put(object, data) }
    }

    public func put(_ key: String, file: URL) throws {
        let object = try objectKey(key)
        try mapped(key) { try client.putFile(object, file: file, partSize: partSize) }
    }

    public func get(_ key: String) throws -> Data {
        let object = try objectKey(key)
        return try mapped(key) { try client.get(object) }
    }

    public func get(_ key: String, range: ClosedRange<Int>) throws -> Data {
        let object = try objectKey(key)
        guard range.lowerBound >= 0 else { throw BlobStoreError.refused("range \(range) starts before 0") }
        return try mapped(key) { try client.get(object, range: range) }
    }

    public func size(_ key: String) throws -> Int? {
        let object = try objectKey(key)
        return try mapped(key) { try client.size(object) }
    }

    public func delete(_ key: String) throws {
        let object = try objectKey(key)
        try mapped(key) { try client.delete(object) }
    }

    public func list(prefix listPrefix: String) throws -> [BlobInfo] {
        try BlobKey.validatePrefix(listPrefix)
        let objects = try mapped(listPrefix) { try client.list(prefix: prefix + listPrefix) }
        return objects.compactMap { object in
            guard object.key.hasPrefix(prefix) else { return nil }
            return BlobInfo(key: String(object.key.dropFirst(prefix.count)), size: object.size, modified: object.lastModified)
        }
    }

    public func fetch(_ key: String, to file: URL) throws {
        let object = try objectKey(key)
        try DurableFile.replace(file) { temp in
            try mapped(key) { _ = try client.download(object, to: temp) }
        }
    }

    // MARK: - Keys and errors

    private func objectKey(_ key: String) throws -> String {
        try BlobKey.validate(key)
        return prefix + key
    }

    /// Runs `body`, turning its failures into ``BlobStoreError``s.
    private func mapped<T>(_ key: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as BlobStoreError {
            throw error
        } catch let error as S3Error {
            throw Self.blobError(error, key: key)
        } catch let error as LocalFileError {
            throw BlobStoreError.io(error.description)
        } catch {
            throw BlobStoreError.io("\(error)")
        }
    }

    static func blobError(_ error: S3Error, key: String) -> BlobStoreError {
        if error.isNotFound && error.code != "NoSuchBucket" && error.code != "NoSuchUpload" { return .notFound(key) }
        if error.status == 0 || error.isTransient { return .unavailable("\(key): \(error)") }
        return .refused("\(key): \(error)")
    }
}
