/// The formats an uploaded data-set file may take.
public enum DatasetFileFormat: String, Sendable, Equatable, CaseIterable {
    /// A NumPy `.npz` (`numpy.savez` or `numpy.savez_compressed`).
    case npz
    /// A safetensors file.
    case safetensors
    /// A zip of the four IDX files of the MNIST family (each optionally gzipped).
    case idx
}

/// Where the features come from and what one sample looks like.
public struct DatasetFileSummary: Sendable, Equatable {
    public let format: DatasetFileFormat
    /// One sample's shape before flattening: `[F]`, `[H, W]` or `[T, F]`.
    public let sampleShape: [Int]
    /// Floats per sample: the product of `sampleShape`.
    public let features: Int
    /// One more than the largest label over all splits.
    public let classes: Int
    public let trainCount: Int
    public let testCount: Int
    /// Samples in the validation split; nil when the file has none.
    public let validationCount: Int?

    public init(format: DatasetFileFormat, sampleShape: [Int], features: Int, classes: Int,
                trainCount: Int, testCount: Int, validationCount: Int?) {
        self.format = format
        self.sampleShape = sampleShape
        self.features = features
        self.classes = classes
        self.trainCount = trainCount
        self.testCount = testCount
        self.validationCount = validationCount
    }
}

/// The splits of a data-set file, ready to train on.
public struct DatasetContents: Sendable {
    public let train: Dataset
    public let test: Dataset
    public let validation: Dataset?
    public let summary: DatasetFileSummary
}

/// Reads an uploaded data-set file — a NumPy `.npz`, a safetensors file or a zip of IDX files,
/// told apart by their first bytes — into `Dataset` values, validating it strictly. Every
/// violation is a `DatasetError` whose message names the array and the problem.
///
/// The file holds `x_train`, `y_train`, `x_test`, `y_test` and optionally `x_val`, `y_val`;
/// an `x_<split>` of shape (N, F), (N, H, W) or (N, T, F) keeps its per-sample shape, and may
/// instead be given as binary events `x_<split>_events` ((sample, t, channel) triples) with
/// `x_<split>_shape` = [N, T, F]. Labels are non-negative integers; there are (largest + 1)
/// classes, at least 2. Inputs become Float32: unsigned bytes divided by 255, bools 0/1, other
/// integers their value, floats as they are (finite only). The file is memory-mapped, so an
/// uncompressed array is read in place and copied once, into its `Dataset`.
public enum DatasetFile {
    /// The most values one array (or the dense form of events) may hold: 2³¹ − 1.
    public static let maxValuesPerArray = 2_147_483_647
    /// The most features one sample may have.
    public static let maxFeatures = 1_048_576
    /// The highest rank of an array (an x array: samples plus up to three sample dimensions).
    public static let maxRank = 4
    /// The most classes a data set may have (so a stray huge label cannot ask for billions).
    public static let maxClasses = 65_536

    /// Reads and validates the file at `path`; `name` becomes the Dataset's name. An archive whose
    /// arrays would decode to more than `maxDecodedBytes` is refused before it is inflated.
    /// Throws DatasetError.
    public static func read(path: String, name: String, maxDecodedBytes: Int = .max) throws -> DatasetContents {
        let file = try ByteRegion.map(path: path)
        let bundle = try ArrayBundle.read(file, maxDecodedBytes: maxDecodedBytes)
        let splits = try DatasetSplit.splits(of: bundle.arrays)
        guard let train = splits["train"], let test = splits["test"] else {
            preconditionFailure("DatasetSplit.splits returns train and test or throws")
        }
        let validation = splits["val"]
        let all = [train, test] + (validation.map { [$0] } ?? [])
        for split in all.dropFirst() where split.sampleShape != train.sampleShape {
            throw DatasetError("\(split.inputsName): per-sample shape \(NDArray.describe(split.sampleShape)) differs from x_train's \(NDArray.describe(train.sampleShape))")
        }
        let classes = try classCount(all)
        // Labels first (cheap), so a bad label is reported before any input is converted.
        let labels = try all.map { try $0.labelValues(classes: classes) }
        guard classes >= 2 else {
            throw DatasetError("labels: every label is 0, so there is only one class; a data set needs at least 2")
        }
        let labelNames = (0..<classes).map { String($0) }
        let datasets = try zip(all, labels).map { split, labels in
            Dataset(name: name, features: split.features, classes: classes, inputs: try split.inputValues(),
                    labels: labels, labelNames: labelNames, sampleShape: split.sampleShape)
        }
        let summary = DatasetFileSummary(format: bundle.format, sampleShape: train.sampleShape, features: train.features,
                                         classes: classes, trainCount: train.count, testCount: test.count,
                                         validationCount: validation?.count)
        return DatasetContents(train: datasets[0], test: datasets[1], validation: datasets.count > 2 ? datasets[2] : nil,
                               summary: summary)
    }

    /// One more than the largest label over all splits; refuses more than `maxClasses` classes.
    private static func classCount(_ splits: [DatasetSplit]) throws -> Int {
        var largest: Int64 = -1
        for split in splits {
            guard let (value, index) = split.largestLabel() else { continue }
            guard value < maxClasses else {
                throw DatasetError("\(split.labels.name): label \(split.labels.describeElement(at: index)) at index \(index) is outside 0..\(maxClasses - 1) (a data set has at most \(maxClasses) classes)")
            }
            largest = max(largest, value)
        }
        return Int(largest + 1)
    }
}
