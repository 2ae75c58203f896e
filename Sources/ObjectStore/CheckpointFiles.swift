import Foundation

/// Checkpoints as blobs: `<run id>/<checkpoint id>.safetensors` under a key prefix of a
/// ``BlobStore`` — `<data-dir>/checkpoints/` on one machine, `s3://bucket/prefix/checkpoints/`
/// when nodes share an object store. Names come from our own ids only. A checkpoint is written
/// (durably, all or nothing) before its row is recorded, so a row never points at a missing
/// object; objects without a row (a node died in between) are swept by ``sweepOrphans``.
public struct CheckpointFiles: Sendable {
    public let blobs: any BlobStore
    /// Empty, or ending with `/`.
    public let prefix: String

    public init(blobs: any BlobStore, prefix: String = "checkpoints/") {
        self.blobs = blobs
        self.prefix = prefix
    }

    /// Checkpoints in a local folder (one machine): `<root>/<run id>/<checkpoint id>.safetensors`.
    public init(root: URL) {
        self.init(blobs: FolderBlobStore(root: root), prefix: "")
    }

    /// The relative name stored in the database.
    public func relativeName(runID: String, checkpointID: String) -> String {
        "\(runID)/\(checkpointID).safetensors"
    }

    /// Writes `data` durably; the checkpoint appears complete or not at all.
    public func write(_ data: Data, relative: String) throws {
        try blobs.put(prefix + relative, data: data)
    }

    public func read(relative: String) throws -> Data {
        try blobs.get(prefix + relative)
    }

    /// The bytes `range` of a checkpoint (downloads with a Range header).
    public func read(relative: String, range: ClosedRange<Int>) throws -> Data {
        try blobs.get(prefix + relative, range: range)
    }

    /// Removes a checkpoint (retention); a missing one is not an error, nor is a store that
    /// cannot be reached (the orphan sweep removes it later).
    public func remove(relative: String) {
        try? blobs.delete(prefix + relative)
    }

    /// Deletes checkpoint objects that no row records and that are older than `grace` seconds
    /// (younger ones may belong to a write another node is about to record). Returns how many.
    public func sweepOrphans(grace: TimeInterval, isRecorded: (String) throws -> Bool) throws -> Int {
        let cutoff = Date().addingTimeInterval(-grace)
        var removed = 0
        for blob in try blobs.list(prefix: prefix) where blob.modified < cutoff {
            let relative = String(blob.key.dropFirst(prefix.count))
            guard relative.hasSuffix(".safetensors"), try !isRecorded(relative) else { continue }
            try blobs.delete(blob.key)
            removed += 1
        }
        return removed
    }
}
