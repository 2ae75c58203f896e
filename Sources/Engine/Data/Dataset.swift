import Foundation
import CZlib

/// An in-memory labelled dataset: `count` rows of `features` floats (in [0, 1] for the built-in
/// data sets; any finite value for uploaded ones).
public final class Dataset: @unchecked Sendable {
    public let name: String
    public let features: Int
    /// What one sample looks like before it is flattened into a row of `features` floats:
    /// `[features]` for static features, `[H, W]` for images, `[T, F]` for sequences.
    public let sampleShape: [Int]
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

/// Loads datasets from a folder and keeps them in memory for later runs (thread-safe).
public final class DatasetLibrary: @unchecked Sendable {
    public let directory: String
    private let lock = NSLock()
    private var cache: [String: (train: Dataset, test: Dataset)] = [:]

    public static let defaultFashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"
    public static let fashionMNISTLabels = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    public init(directory: String = DatasetLibrary.defaultFashionMNISTDirectory) {
        self.directory = directory
    }

    /// Train and test splits of a named dataset.
    public func load(_ name: String) throws -> (train: Dataset, test: Dataset) {
        lock.lock()
        defer { lock.unlock() }
        if let hit = cache[name] { return hit }
        guard name == "fashion-mnist" else { throw DatasetError("unknown dataset \(name)") }
        let train = try loadIDXPair(images: "train-images-idx3-ubyte.gz", labels: "train-labels-idx1-ubyte.gz", name: name)
        let test = try loadIDXPair(images: "t10k-images-idx3-ubyte.gz", labels: "t10k-labels-idx1-ubyte.gz", name: name)
        cache[name] = (train, test)
        return (train, test)
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
