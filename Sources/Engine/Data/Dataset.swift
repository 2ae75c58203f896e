import Foundation
import CZlib
import Support

/// An in-memory labelled dataset: `count` rows of `features` floats (in [0, 1] for the built-in
/// data sets; any finite value for uploaded ones).
public final class Dataset: @unchecked Sendable {
    public let name: String
    public let features: Int
    /// What one sample looks like before it is flattened into a row of `features` floats:
    /// `[features]` for static features, `[H, W]` for images, `[T, F]` for sequences.
    public let sampleShape: [Int]
    /// Rows `providedValidation` of a training set are the data set's own validation split
    /// (appended after the training rows; `data.validation: "provided"` scores them, nothing
    /// trains on them). nil: none.
    public internal(set) var providedValidation: Range<Int>?
    public let classes: Int
    public let count: Int
    public let inputs: FloatBuffer
    public let labels: [Int32]
    public let labelNames: [String]

    /// `sampleShape` defaults to `[features]`; when given, its product must be `features`.
    public init(name: String, features: Int, classes: Int, inputs: FloatBuffer, labels: [Int32], labelNames: [String],
                sampleShape: [Int]? = nil) {
        precondition(inputs.count == labels.count * features)
        precondition(sampleShape.map { $0.reduce(1, *) == features } ?? true, "sampleShape does not match features")
        self.name = name
        self.features = features
        self.sampleShape = sampleShape ?? [features]
        self.classes = classes
        self.count = labels.count
        self.inputs = inputs
        self.labels = labels
        self.labelNames = labelNames
    }

    /// The first `n` rows (shares nothing; copies the slice).
    public func prefix(_ n: Int) -> Dataset {
        guard n < count else { return self }
        let buf = FloatBuffer(count: n * features)
        buf.pointer.update(from: inputs.pointer, count: n * features)
        return Dataset(name: name, features: features, classes: classes, inputs: buf,
                       labels: Array(labels.prefix(n)), labelNames: labelNames, sampleShape: sampleShape)
    }
}

/// Dataset files that are missing or malformed.
public struct DatasetError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Loads datasets — the built-in Fashion-MNIST from a folder, uploaded ones (`ds_…`) from their
/// files — when a run first needs them, and keeps them in memory for later runs (thread-safe).
/// Uploaded sets are checked against their recorded SHA-256 when read, and kept up to
/// `uploadCacheBytes` (least recently used dropped first).
public final class DatasetLibrary: @unchecked Sendable {
    public let directory: String
    private let lock = NSLock()
    private var cache: [String: (train: Dataset, test: Dataset)] = [:]

    /// Where an uploaded data set's file is, and the digest it was recorded with.
    public struct Upload: Sendable {
        public let path: String
        public let sha256: String
        public init(path: String, sha256: String) {
            self.path = path
            self.sha256 = sha256
        }
    }
    private let uploads: @Sendable (String) -> Upload?
    /// Memory uploaded data sets may keep between runs (their float inputs).
    public var uploadCacheBytes = 2 << 30
    private var uploadOrder: [String] = []

    public static let defaultFashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"
    public static let fashionMNISTLabels = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// `uploads` resolves an uploaded data set's id (nil: there is none).
    public init(directory: String = DatasetLibrary.defaultFashionMNISTDirectory,
                uploads: @escaping @Sendable (String) -> Upload? = { _ in nil }) {
        self.directory = directory
        self.uploads = uploads
    }

    /// Train and test splits of a named dataset.
    public func load(_ name: String) throws -> (train: Dataset, test: Dataset) {
        lock.lock()
        defer { lock.unlock() }
        if let hit = cache[name] {
            if name.hasPrefix("ds_") { uploadOrder.removeAll { $0 == name }; uploadOrder.append(name) }
            return hit
        }
        if name.hasPrefix("ds_") { return try loadUpload(name) }
        if name == SpikePatterns.name {
            let made = SpikePatterns.make()
            cache[name] = made
            return made
        }
        guard name == "fashion-mnist" else { throw DatasetError("unknown dataset \(name)") }
        let train = try loadIDXPair(images: "train-images-idx3-ubyte.gz", labels: "train-labels-idx1-ubyte.gz", name: name)
        let test = try loadIDXPair(images: "t10k-images-idx3-ubyte.gz", labels: "t10k-labels-idx1-ubyte.gz", name: name)
        cache[name] = (train, test)
        return (train, test)
    }

    /// Drops an uploaded data set from memory (it was deleted).
    public func forget(_ id: String) {
        lock.lock()
        cache[id] = nil
        uploadOrder.removeAll { $0 == id }
        lock.unlock()
    }

    /// Reads an uploaded data set (caller holds the lock), checking its digest first.
    private func loadUpload(_ id: String) throws -> (train: Dataset, test: Dataset) {
        guard let upload = uploads(id) else { throw DatasetError("data set \(id) does not exist (was it deleted?)") }
        let digest = try Self.sha256(path: upload.path)
        guard digest == upload.sha256 else {
            throw DatasetError("data set \(id): its file's SHA-256 is \(digest), not the \(upload.sha256) it was uploaded with; the file changed on disk")
        }
        let contents = try DatasetFile.read(path: upload.path, name: id)
        var train = contents.train
        if let val = contents.validation {
            // Provided validation rows go after the training rows of one training set.
            let inputs = FloatBuffer(count: (train.count + val.count) * train.features)
            inputs.pointer.update(from: train.inputs.pointer, count: train.count * train.features)
            (inputs.pointer + train.count * train.features).update(from: val.inputs.pointer, count: val.count * val.features)
            let joined = Dataset(name: id, features: train.features, classes: train.classes, inputs: inputs, labels: train.labels + val.labels,
                                 labelNames: train.labelNames, sampleShape: train.sampleShape)
            joined.providedValidation = train.count..<(train.count + val.count)
            train = joined
        }
        let entry = (train, contents.test)
        cache[id] = entry
        uploadOrder.append(id)
        // Least recently used first, keeping the one just read.
        func bytes(_ name: String) -> Int { cache[name].map { ($0.train.inputs.count + $0.test.inputs.count) * 4 } ?? 0 }
        while uploadOrder.count > 1, uploadOrder.reduce(0, { $0 + bytes($1) }) > uploadCacheBytes {
            cache[uploadOrder.removeFirst()] = nil
        }
        return entry
    }

    static func sha256(path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw DatasetError("cannot open \(path)") }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty { hasher.update(chunk) }
        return hasher.finalizeHex()
    }

    /// Whether the dataset's files are present (readiness, error messages).
    public func isAvailable(_ name: String) -> Bool {
        FileManager.default.isReadableFile(atPath: directory + "/train-images-idx3-ubyte.gz")
    }

    private func loadIDXPair(images: String, labels: String, name: String) throws -> Dataset {
        let imageBytes = try Self.gunzip(path: directory + "/" + images)
        let labelBytes = try Self.gunzip(path: directory + "/" + labels)
        let (imageDims, imageOffset) = try Self.idxHeader(imageBytes, expectedRank: 3, file: images)
        let (labelDims, labelOffset) = try Self.idxHeader(labelBytes, expectedRank: 1, file: labels)
        guard imageDims[0] == labelDims[0] else {
            throw DatasetError("\(images) has \(imageDims[0]) images but \(labels) has \(labelDims[0]) labels")
        }
        let n = imageDims[0], features = imageDims[1] * imageDims[2]
        guard imageBytes.count >= imageOffset + n * features, labelBytes.count >= labelOffset + n else {
            throw DatasetError("\(images) or \(labels) is truncated")
        }
        let inputs = FloatBuffer(count: n * features)
        imageBytes.withUnsafeBufferPointer { src in
            let p = src.baseAddress! + imageOffset
            for i in 0..<(n * features) { inputs.pointer[i] = Float(p[i]) / 255 }
        }
        var ys = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            let y = labelBytes[labelOffset + i]
            guard y < 10 else { throw DatasetError("\(labels): label \(y) out of range at index \(i)") }
            ys[i] = Int32(y)
        }
        return Dataset(name: name, features: features, classes: 10, inputs: inputs, labels: ys,
                       labelNames: Self.fashionMNISTLabels, sampleShape: [imageDims[1], imageDims[2]])
    }

    /// Parses an IDX header (magic 0x00 0x00 type rank, then big-endian dims) of unsigned bytes.
    static func idxHeader(_ b: [UInt8], expectedRank: Int, file: String) throws -> ([Int], Int) {
        guard b.count >= 4, b[0] == 0, b[1] == 0, b[2] == 0x08, Int(b[3]) == expectedRank,
              b.count >= 4 + 4 * expectedRank else {
            throw DatasetError("\(file) is not an IDX file of unsigned bytes with \(expectedRank) dimensions")
        }
        var dims: [Int] = []
        for i in 0..<expectedRank {
            let o = 4 + 4 * i
            dims.append(Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]))
        }
        return (dims, 4 + 4 * expectedRank)
    }

    /// Reads a whole gzip file through zlib.
    static func gunzip(path: String) throws -> [UInt8] {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw DatasetError("dataset file \(path) not found; install the Debian package dataset-fashion-mnist or set --dataset-dir")
        }
        guard let gz = gzopen(path, "rb") else { throw DatasetError("cannot open \(path)") }
        defer { gzclose(gz) }
        gzbuffer(gz, 1 << 17)
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { throw DatasetError("\(path) is not a valid gzip file") }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<Int(n)])
        }
        return out
    }
}

extension Dataset {
    /// Copies input `i` to `dst`, through a pixel permutation (`dst[j] = x[permutation[j]]`) when given.
    @inline(__always)
    public func copyInput(_ i: Int, permutation: [Int32]?, to dst: UnsafeMutablePointer<Float>) {
        let src = inputs.pointer + i * features
        if let p = permutation {
            for j in 0..<features { dst[j] = src[Int(p[j])] }
        } else {
            dst.update(from: src, count: features)
        }
    }
}
