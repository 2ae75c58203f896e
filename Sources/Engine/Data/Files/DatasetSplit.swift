/// One split (`train`, `test` or `val`) of a data-set file: its inputs — a dense `x_<split>` of
/// shape (N, features…), or events `x_<split>_events` (E × (sample, t, channel)) with
/// `x_<split>_shape` = [N, T, F] — and its labels `y_<split>`, checked against each other.
/// Checks that span splits (per-sample shapes, the class count) are `DatasetFile`'s.
struct DatasetSplit {
    enum Inputs {
        case dense(NDArray)
        case events(NDArray, shape: NDArray)
    }

    /// `train`, `test` or `val`.
    let split: String
    let inputs: Inputs
    let labels: NDArray
    /// Samples (N).
    let count: Int
    /// One sample's shape: the dense array's shape without N, or [T, F] for events.
    let sampleShape: [Int]

    /// Per-sample features: the product of `sampleShape`.
    var features: Int { sampleShape.reduce(1, *) }
    /// The name the inputs go by in messages: `x_train`.
    var inputsName: String { "x_\(split)" }

    static let requiredSplits = ["train", "test"]
    static let optionalSplits = ["val"]

    private static let expectedNames = "a data-set file holds x_train, y_train, x_test, y_test, optionally x_val and y_val "
        + "(an x_<split> may instead be given as x_<split>_events with x_<split>_shape)"

    /// Groups the arrays by split, refusing unknown names, missing arrays and half-given splits.
    static func splits(of arrays: [String: NDArray]) throws -> [String: DatasetSplit] {
        let splitNames = requiredSplits + optionalSplits
        for name in arrays.keys.sorted() {
            let known = splitNames.contains { s in ["x_\(s)", "y_\(s)", "x_\(s)_events", "x_\(s)_shape"].contains(name) }
            guard known else { throw DatasetError("\(name): unknown array name; \(expectedNames)") }
        }
        var result: [String: DatasetSplit] = [:]
        for split in splitNames {
            let x = arrays["x_\(split)"], y = arrays["y_\(split)"]
            let events = arrays["x_\(split)_events"], shape = arrays["x_\(split)_shape"]
            let hasInputs = x != nil || events != nil || shape != nil
            if !hasInputs && y == nil && optionalSplits.contains(split) { continue }
            guard let y else {
                let reason = optionalSplits.contains(split) ? "x_\(split) is given; give both or neither" : expectedNames
                throw DatasetError("missing array y_\(split): \(reason)")
            }
            let inputs: Inputs
            switch (x, events, shape) {
            case (let x?, nil, nil): inputs = .dense(x)
            case (nil, let events?, let shape?): inputs = .events(events, shape: shape)
            case (nil, nil, nil):
                let reason = optionalSplits.contains(split) ? "y_\(split) is given; give both or neither" : expectedNames
                throw DatasetError("missing array x_\(split): \(reason)")
            case (nil, _?, nil): throw DatasetError("missing array x_\(split)_shape (x_\(split)_events needs it)")
            case (nil, nil, _?): throw DatasetError("missing array x_\(split)_events (x_\(split)_shape needs it)")
            default: throw DatasetError("x_\(split): given both as a dense array and as x_\(split)_events/x_\(split)_shape")
            }
            result[split] = try DatasetSplit(split: split, inputs: inputs, labels: y)
        }
        return result
    }

    private init(split: String, inputs: Inputs, labels: NDArray) throws {
        self.split = split
        self.inputs = inputs
        self.labels = labels
        switch inputs {
        case .dense(let x):
            guard x.shape.count >= 2 else {
                throw DatasetError("\(x.name): expected shape (samples, features…) of rank 2 to \(DatasetFile.maxRank), got \(x.shapeDescription)")
            }
            count = x.shape[0]
            sampleShape = Array(x.shape.dropFirst())
        case .events(let events, let shape):
            (count, sampleShape) = try Self.eventsShape(events, shape, name: "x_\(split)")
        }
        let name = "x_\(split)", features = sampleShape.reduce(1, *)
        guard count > 0, features > 0 else {
            throw DatasetError("\(name): empty (\(count) samples of shape \(NDArray.describe(sampleShape))); every split needs samples with at least one feature")
        }
        guard features <= DatasetFile.maxFeatures else {
            throw DatasetError("\(name): \(features) features per sample (shape \(NDArray.describe(sampleShape))) is more than the \(DatasetFile.maxFeatures) allowed")
        }
        guard labels.shape.count == 1 else {
            throw DatasetError("\(labels.name): expected rank 1 (one label per sample), got shape \(labels.shapeDescription)")
        }
        guard !labels.type.isFloat else {
            throw DatasetError("\(labels.name): labels must be integers (or bool), got dtype \(labels.typeName)")
        }
        guard labels.count == count else {
            throw DatasetError("\(labels.name): \(labels.count) labels for the \(count) samples of \(name)")
        }
        try labels.checkBooleans()
    }

    /// N and [T, F] from `x_<split>_shape`, after checking both arrays' shapes and types.
    private static func eventsShape(_ events: NDArray, _ shape: NDArray, name: String) throws -> (Int, [Int]) {
        guard shape.shape == [3], !shape.type.isFloat, shape.type != .bool else {
            throw DatasetError("\(shape.name): expected 3 integers [N, T, F], got shape \(shape.shapeDescription) of \(shape.typeName)")
        }
        let sizes = (0..<3).map { shape.integer(at: $0) }
        guard sizes.allSatisfy({ $0 >= 1 }) else {
            throw DatasetError("\(shape.name): [\(sizes.map(String.init).joined(separator: ", "))] — every size must be at least 1")
        }
        guard events.shape.count == 2, events.shape[1] == 3 else {
            throw DatasetError("\(events.name): expected shape (E, 3) of (sample, t, channel) triples, got \(events.shapeDescription)")
        }
        guard !events.type.isFloat, events.type != .bool else {
            throw DatasetError("\(events.name): events must be integers, got dtype \(events.typeName)")
        }
        // The dense array these events fill must itself be within the limits.
        _ = try NDArray.elementCount(of: sizes.map { Int($0) }, name: name)
        return (Int(sizes[0]), [Int(sizes[1]), Int(sizes[2])])
    }

    // MARK: - Values

    /// The largest label and where it is (nil for none, which a validated split cannot be).
    func largestLabel() -> (value: Int64, index: Int)? {
        var best: (value: Int64, index: Int)?
        for i in 0..<labels.count {
            let v = labels.integer(at: i)
            if best == nil || v > best!.value { best = (v, i) }
        }
        return best
    }

    /// The labels as Int32, refusing a negative one; `classes` is the count over all splits.
    func labelValues(classes: Int) throws -> [Int32] {
        var values = [Int32](repeating: 0, count: labels.count)
        for i in 0..<labels.count {
            let v = labels.integer(at: i)
            guard v >= 0 else {
                let range = classes >= 1 ? "is outside 0..\(classes - 1)" : "is negative; labels count from 0"
                throw DatasetError("\(labels.name): label \(v) at index \(i) \(range)")
            }
            values[i] = Int32(v)   // below `classes`, which is at most DatasetFile.maxClasses
        }
        return values
    }

    /// The inputs as `count` rows of `features` floats.
    func inputValues() throws -> FloatBuffer {
        let buffer = FloatBuffer(count: count * features)
        switch inputs {
        case .dense(let x):
            try x.convertToFloats(into: buffer.pointer)
        case .events(let events, let shape):
            let (t, f) = (sampleShape[0], sampleShape[1])
            for e in 0..<events.shape[0] {
                let s = events.integer(at: 3 * e), step = events.integer(at: 3 * e + 1), channel = events.integer(at: 3 * e + 2)
                guard (0..<Int64(count)).contains(s), (0..<Int64(t)).contains(step), (0..<Int64(f)).contains(channel) else {
                    throw DatasetError("\(events.name): event \(e) (sample \(events.describeElement(at: 3 * e)), t \(events.describeElement(at: 3 * e + 1)), channel \(events.describeElement(at: 3 * e + 2))) is outside the shape [\(count), \(t), \(f)] that \(shape.name) gives")
                }
                buffer[(Int(s) * t + Int(step)) * f + Int(channel)] = 1
            }
        }
        return buffer
    }
}
