/// Reads a zip of the four IDX files of the MNIST family — train images and labels, test images
/// and labels, each optionally gzipped — as the arrays `x_train`, `y_train`, `x_test`, `y_test`.
/// Files are recognised by name: `train` or `t10k`/`test`, and `images`/`idx3` or `labels`/`idx1`.
/// An IDX file is `0, 0, type, rank`, big-endian 32-bit dimensions, then the elements; only
/// unsigned bytes (type 0x08) are accepted. Images (N, H, W) keep their per-sample shape (H, W).
enum IDXArrays {
    /// What one IDX file of the archive holds.
    private enum Role: CaseIterable {
        case trainImages, trainLabels, testImages, testLabels

        var arrayName: String {
            switch self {
            case .trainImages: return "x_train"
            case .trainLabels: return "y_train"
            case .testImages: return "x_test"
            case .testLabels: return "y_test"
            }
        }

        var isImages: Bool { self == .trainImages || self == .testImages }

        var expectedFile: String {
            switch self {
            case .trainImages: return "train images (e.g. train-images-idx3-ubyte.gz)"
            case .trainLabels: return "train labels (e.g. train-labels-idx1-ubyte.gz)"
            case .testImages: return "test images (e.g. t10k-images-idx3-ubyte.gz)"
            case .testLabels: return "test labels (e.g. t10k-labels-idx1-ubyte.gz)"
            }
        }
    }

    private static let gzipMagic: [UInt8] = [0x1f, 0x8b]

    /// Whether an entry name looks like one of the IDX files.
    static func looksLikeIDX(_ entryName: String) -> Bool {
        do { return try role(of: entryName) != nil } catch { return true }
    }

    /// Entries a zip tool adds that hold no data: folders and macOS resource forks.
    static func isIgnorable(_ entry: ZipArchive.Entry) -> Bool {
        entry.isDirectory || entry.name.hasPrefix("__MACOSX/") || fileName(entry.name) == ".DS_Store"
    }

    /// The four arrays of the archive.
    static func read(_ archive: ZipArchive) throws -> [NDArray] {
        var found: [Role: ZipArchive.Entry] = [:]
        for entry in archive.entries where !isIgnorable(entry) {
            guard let role = try role(of: entry.name) else {
                throw DatasetError("zip entry \(entry.name) is not one of the IDX files (train or t10k/test, images or labels)")
            }
            if let other = found[role] {
                throw DatasetError("zip entries \(other.name) and \(entry.name) both look like the \(role.expectedFile)")
            }
            found[role] = entry
        }
        return try Role.allCases.map { role in
            guard let entry = found[role] else { throw DatasetError("the zip of IDX files has no \(role.expectedFile)") }
            return try array(role, from: entry, in: archive)
        }
    }

    /// The role an entry's file name gives it; nil for a name with no hint, an error for an ambiguous one.
    private static func role(of entryName: String) throws -> Role? {
        let name = fileName(entryName).lowercased()
        let test = name.contains("t10k") || name.contains("test"), train = name.contains("train")
        let images = name.contains("images") || name.contains("idx3"), labels = name.contains("labels") || name.contains("idx1")
        guard test || train, images || labels else { return nil }
        guard test != train, images != labels else {
            throw DatasetError("zip entry \(entryName): cannot tell from its name whether it holds train or test images or labels")
        }
        switch (train, images) {
        case (true, true): return .trainImages
        case (true, false): return .trainLabels
        case (false, true): return .testImages
        case (false, false): return .testLabels
        }
    }

    private static func fileName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// Reads one IDX file (gunzipping it when it starts with the gzip magic).
    private static func array(_ role: Role, from entry: ZipArchive.Entry, in archive: ZipArchive) throws -> NDArray {
        let maxBytes = 4 + 4 * DatasetFile.maxRank + DatasetFile.maxValuesPerArray
        // A gzipped file may be a little longer than its contents when they do not compress.
        var bytes = try archive.contents(of: entry, limit: maxBytes + maxBytes / 100 + 1024)
        if bytes.starts(with: gzipMagic) {
            bytes = try Inflate.gunzip(bytes.bytes, limit: maxBytes, what: entry.name)
        }
        let b = bytes.bytes, file = entry.name
        guard b.count >= 4, b[0] == 0, b[1] == 0 else {
            throw DatasetError("\(file) (\(role.arrayName)) is not an IDX file: it must start with two zero bytes")
        }
        guard b[2] == 0x08 else {
            throw DatasetError("\(file) (\(role.arrayName)): IDX element type 0x\(String(b[2], radix: 16, uppercase: true))\(typeName(b[2])) is not supported; only unsigned bytes (0x08) are")
        }
        let rank = Int(b[3])
        guard role.isImages ? (2...DatasetFile.maxRank).contains(rank) : rank == 1 else {
            throw DatasetError("\(file) (\(role.arrayName)): IDX rank \(rank) is not supported; \(role.isImages ? "images need rank 2 to \(DatasetFile.maxRank)" : "labels need rank 1")")
        }
        guard b.count >= 4 + 4 * rank else { throw DatasetError("\(file) (\(role.arrayName)): the IDX header is truncated") }
        let shape = (0..<rank).map { Int(b.uint32BE(at: 4 + 4 * $0)) }
        let count = try NDArray.elementCount(of: shape, name: role.arrayName)
        let dataStart = 4 + 4 * rank
        guard b.count - dataStart == count else {
            let problem = b.count - dataStart < count ? "is truncated" : "has \(b.count - dataStart - count) bytes too many"
            throw DatasetError("\(file) (\(role.arrayName)): the IDX data \(problem): shape \(NDArray.describe(shape)) needs \(count) bytes, the file holds \(b.count - dataStart)")
        }
        return try NDArray(name: role.arrayName, type: .uint8, typeName: "u8 (IDX)", shape: shape,
                           data: bytes.window(dataStart..<b.count))
    }

    private static func typeName(_ code: UInt8) -> String {
        switch code {
        case 0x09: return " (int8)"
        case 0x0B: return " (int16)"
        case 0x0C: return " (int32)"
        case 0x0D: return " (float32)"
        case 0x0E: return " (float64)"
        default: return ""
        }
    }
}
