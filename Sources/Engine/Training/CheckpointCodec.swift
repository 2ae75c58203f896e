import Foundation
import Support

/// The one checkpoint format of every family: named F32 tensors, plus a typed, versioned header in
/// the safetensors `__metadata__` map:
/// - `format` = ``CheckpointCodec/format``, `format_version` = ``CheckpointCodec/version``,
///   `family` (the ``TrainingFamily`` kind), `step`, `total_steps`, `spec` (canonical JSON),
///   `spec_hash`;
/// - descriptive strings for readers outside Neuromod (`layers`, `activation`, `labels`, …);
/// - every other piece of trainer state as `state.<name>`: one Codable value in JSON, keyed by
///   name (optimizer step counts, generator states, modulator state, metric sums, …). Nothing is
///   positional, so a field added later cannot shift another.
///
/// Checkpoints of the earlier per-family formats (`neuromod.mlp/1`, `neuromod.snn/1`,
/// `neuromod.reward/1`, `neuromod.rstdp/1`) are refused with an error naming their format and
/// version; their tensors (same names) still serve predictions.
public enum CheckpointCodec {
    public static let format = "neuromod.checkpoint"
    public static let version = 2

    /// The family, step and spec a checkpoint's header names (it is not otherwise checked).
    public struct Header: Sendable, Equatable {
        public var family: String
        public var step: Int
        public var specHash: String
    }

    /// Reads the header of `file`, refusing other formats and versions with a clear message.
    public static func header(of file: Safetensors.File) throws -> Header {
        let meta = file.metadata
        guard let f = meta["format"] else { throw CheckpointError("the checkpoint has no format in its metadata") }
        guard f == format else {
            let old = f.split(separator: "/")
            let named = old.count == 2 ? "format \(old[0]) version \(old[1])" : "format \(f)"
            throw CheckpointError("the checkpoint is in \(named), which this version of neuromod cannot resume " +
                                  "(it resumes \(format) version \(version)); resubmit the run to train it again", unsupportedFormat: true)
        }
        guard let v = meta["format_version"].flatMap(Int.init), v == version else {
            throw CheckpointError("the checkpoint is \(format) version \(meta["format_version"] ?? "?"); this version of neuromod resumes version \(version)",
                                  unsupportedFormat: true)
        }
        guard let family = meta["family"], let step = meta["step"].flatMap(Int.init), step >= 0, let hash = meta["spec_hash"] else {
            throw CheckpointError("the checkpoint header lacks family, step or spec_hash")
        }
        return Header(family: family, step: step, specHash: hash)
    }
}

/// Collects a checkpoint: tensors and named state values.
public struct CheckpointWriter {
    public private(set) var file = Safetensors.File()

    init(family: String, step: Int, totalSteps: Int, spec: ExperimentSpec, extra: [String: String]) {
        var meta = extra
        meta["format"] = CheckpointCodec.format
        meta["format_version"] = String(CheckpointCodec.version)
        meta["family"] = family
        meta["step"] = String(step)
        meta["total_steps"] = String(totalSteps)
        meta["spec"] = String(decoding: spec.canonicalJSON(), as: UTF8.self)
        meta["spec_hash"] = spec.hash
        file.metadata = meta
    }

    /// A tensor copied from `buffer`, with `shape` (default: one dimension).
    public mutating func tensor(_ name: String, _ buffer: FloatBuffer, shape: [Int]? = nil) {
        file.tensors[name] = .init(shape: shape ?? [buffer.count], values: buffer.array)
    }

    /// A tensor of `values`, with `shape` (default: one dimension).
    public mutating func tensor(_ name: String, values: [Float], shape: [Int]? = nil) {
        file.tensors[name] = .init(shape: shape ?? [values.count], values: values)
    }

    /// A piece of state, stored as JSON under `state.<name>`.
    public mutating func state<T: Encodable>(_ name: String, _ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // A diverged run's NaN or infinite sums must round-trip too (JSON has no such numbers).
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            file.metadata["state." + name] = String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            // Plain Codable values of numbers, strings and arrays only fail on a bug here.
            preconditionFailure("checkpoint state \(name) cannot be encoded: \(error)")
        }
    }

    /// A descriptive metadata string for readers outside Neuromod (not trainer state).
    public mutating func describe(_ key: String, _ value: String) {
        file.metadata[key] = value
    }
}

/// Reads a checkpoint written by ``CheckpointWriter``: every missing or malformed piece is a
/// ``CheckpointError`` naming it.
public struct CheckpointReader {
    public let file: Safetensors.File
    public let header: CheckpointCodec.Header

    init(_ data: Data) throws {
        file = try Safetensors.decode(data)
        header = try CheckpointCodec.header(of: file)
    }

    /// Copies tensor `name` into `buffer` (sizes must match).
    public func tensor(_ name: String, into buffer: FloatBuffer) throws {
        try file.load(name, into: buffer)
    }

    /// The values of tensor `name`, which must hold `count` of them when given.
    public func tensor(_ name: String, count: Int? = nil) throws -> [Float] {
        guard let t = file.tensors[name], count == nil || t.values.count == count else {
            throw CheckpointError("checkpoint tensor \(name) is missing or has the wrong size")
        }
        return t.values
    }

    public func hasTensor(_ name: String) -> Bool { file.tensors[name] != nil }

    /// The state value `state.<name>`, decoded as `T`.
    public func state<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let text = file.metadata["state." + name] else { throw CheckpointError("checkpoint lacks state \(name)") }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return try decoder.decode(T.self, from: Data(text.utf8)) } catch {
            throw CheckpointError("checkpoint state \(name) is malformed")
        }
    }

    /// The state value `state.<name>` if present.
    public func optionalState<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T? {
        file.metadata["state." + name] == nil ? nil : try state(name, as: T.self)
    }
}

/// A checkpoint that cannot be restored into this session.
public struct CheckpointError: Error, Sendable, CustomStringConvertible {
    public var description: String
    /// The checkpoint is intact but of a format or version this build does not resume.
    public var isUnsupportedFormat = false
    public init(_ description: String, unsupportedFormat: Bool = false) {
        self.description = description
        isUnsupportedFormat = unsupportedFormat
    }
}

extension Safetensors.File {
    func load(_ name: String, into buffer: FloatBuffer) throws {
        guard let t = tensors[name], t.values.count == buffer.count else {
            throw CheckpointError("checkpoint tensor \(name) is missing or has the wrong size")
        }
        t.values.withUnsafeBufferPointer { buffer.pointer.update(from: $0.baseAddress!, count: buffer.count) }
    }
}
