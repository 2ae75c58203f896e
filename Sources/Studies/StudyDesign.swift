import Foundation
import Support
import Engine

/// What a researcher asks for: a base run spec, how to vary it (factors or an ablation), controls,
/// seeds, the metrics to compare and the control cell. Validated field by field.
public struct StudyDesign: Sendable, Equatable {
    public enum Layout: String, Sendable, CaseIterable {
        /// Every combination of the factors' values.
        case grid
        /// The base, then each factor's values one at a time (the others at the base).
        case oneAtATime = "one_at_a_time"
    }

    /// A dotted path into the run spec and the values it takes.
    public struct Factor: Sendable, Equatable {
        public var path: String
        public var values: [JSONValue]
    }

    public var name: String
    /// The base run spec, as submitted (JSON object).
    public var base: JSONValue
    public var factors: [Factor]
    public var layout: Layout
    /// Neuromodulation channels and mechanisms to ablate (empty: no ablation).
    public var ablate: [String]
    /// Add yoked controls (shuffled and mean) of every modulated cell.
    public var yoked: Bool
    public var seeds: [Int]
    /// Dotted paths into run summaries (`average_accuracy`, `neuromodulators.noradrenaline.surprise`).
    public var metrics: [String]
    /// The control cell, by name or index (default: the first cell).
    public var control: JSONValue?
    public var maxRuns: Int

    /// The most runs one study may have, whatever `max_runs` says.
    public static let runCeiling = 10_000
    /// `max_runs` when the design does not say.
    public static let defaultMaxRuns = 2_000
    /// Channels and mechanisms `ablate` knows, in the spec's neuromodulation section.
    public static let ablatable = ["dopamine", "noradrenaline", "acetylcholine", "serotonin", "modulatory_gate", "context_gating"]

    /// Parses a design (the body of `POST /v1/experiments/{id}/studies`).
    public static func parse(_ json: JSONValue) throws -> StudyDesign {
        guard case .object(let o) = json else { throw StudyError("body", "must be a JSON object") }
        let known: Set<String> = ["name", "base", "factors", "design", "ablate", "controls", "seeds", "metrics", "control", "max_runs"]
        for key in o.keys.sorted() where !known.contains(key) { throw StudyError(key, "is not a known field") }
        var name = "study"
        if let n = o["name"], n != .null {
            guard case .string(let s) = n, (1...200).contains(s.count) else { throw StudyError("name", "must be a string of 1 to 200 characters") }
            name = s
        }
        guard case .object(let baseObject)? = o["base"] else { throw StudyError("base", "is required: a run spec object") }
        var factors: [Factor] = []
        if let f = o["factors"], f != .null {
            guard case .array(let items) = f else { throw StudyError("factors", "must be an array of {path, values}") }
            for (i, item) in items.enumerated() {
                guard case .object(let fo) = item else { throw StudyError("factors[\(i)]", "must be an object {path, values}") }
                for key in fo.keys where key != "path" && key != "values" { throw StudyError("factors[\(i)].\(key)", "is not a known field") }
                guard case .string(let path)? = fo["path"], !path.isEmpty, path.count <= 300,
                      !path.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) else {
                    throw StudyError("factors[\(i)].path", "is required: a dotted path into the run spec, e.g. optimizer.learning_rate")
                }
                guard !["seed", "replay"].contains(path.split(separator: ".").first.map(String.init) ?? "") else {
                    throw StudyError("factors[\(i)].path", "\(path) is set by the study itself (seeds, controls)")
                }
                guard case .array(let values)? = fo["values"], (1...100).contains(values.count) else {
                    throw StudyError("factors[\(i)].values", "is required: 1 to 100 values")
                }
                if factors.contains(where: { $0.path == path }) { throw StudyError("factors[\(i)].path", "\(path) is already a factor") }
                factors.append(Factor(path: path, values: values))
            }
        }
        var layout = Layout.grid
        if let d = o["design"], d != .null {
            guard case .string(let s) = d, let l = Layout(rawValue: s) else {
                throw StudyError("design", "must be one of \(Layout.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            layout = l
        }
        var ablate: [String] = []
        if let a = o["ablate"], a != .null {
            let present = Self.mechanisms(in: .object(baseObject))
            switch a {
            case .bool(true): ablate = present
            case .bool(false): break
            case .array(let items):
                for (i, item) in items.enumerated() {
                    guard case .string(let s) = item, Self.ablatable.contains(s) else {
                        throw StudyError("ablate[\(i)]", "must be one of \(Self.ablatable.joined(separator: ", "))")
                    }
                    guard present.contains(s) else { throw StudyError("ablate[\(i)]", "\(s) is not in the base spec's neuromodulation") }
                    if !ablate.contains(s) { ablate.append(s) }
                }
            default: throw StudyError("ablate", "must be true (every channel and mechanism of the base) or a list of them")
            }
            if (a == .bool(true) || !ablate.isEmpty) && ablate.isEmpty {
                throw StudyError("ablate", "the base spec has no neuromodulation channel or mechanism to ablate")
            }
        }
        if !ablate.isEmpty && !factors.isEmpty { throw StudyError("ablate", "give factors or ablate, not both") }
        var yoked = false
        if let c = o["controls"], c != .null {
            guard case .array(let items) = c, items.allSatisfy({ $0 == .string("yoked") }) else {
                throw StudyError("controls", "must be a list of control kinds; supported: [\"yoked\"]")
            }
            yoked = !items.isEmpty
        }
        var seeds: [Int] = []
        let baseSeed = baseObject["seed"]?.intValue ?? 0
        switch o["seeds"] {
        case nil, .null?: seeds = Array(baseSeed..<(baseSeed + 5))
        case .number(let d)?:
            guard d == d.rounded(), (1...1000).contains(d) else { throw StudyError("seeds", "a count must be an integer from 1 to 1000") }
            seeds = Array(baseSeed..<(baseSeed + Int(d)))
        case .array(let items)?:
            guard (1...1000).contains(items.count) else { throw StudyError("seeds", "a list holds 1 to 1000 seeds") }
            for (i, item) in items.enumerated() {
                guard let s = item.intValue, s >= 0, s <= Int(UInt32.max) else { throw StudyError("seeds[\(i)]", "must be an integer from 0 to 4294967295") }
                guard !seeds.contains(s) else { throw StudyError("seeds[\(i)]", "seed \(s) is listed twice") }
                seeds.append(s)
            }
        default: throw StudyError("seeds", "must be a count or a list of seeds")
        }
        var metrics: [String] = []
        if let m = o["metrics"], m != .null {
            guard case .array(let items) = m, (1...20).contains(items.count) else { throw StudyError("metrics", "must be a list of 1 to 20 summary paths") }
            let reserved: Set<String> = ["run_id", "cell", "cell_name", "kind", "seed", "state", "spec_hash", "engine_version"]
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item, (1...200).contains(s.count) else { throw StudyError("metrics[\(i)]", "must be a summary path, e.g. average_accuracy") }
                guard !metrics.contains(s) else { throw StudyError("metrics[\(i)]", "\(s) is listed twice") }
                guard !reserved.contains(s), !factors.contains(where: { $0.path == s }) else {
                    throw StudyError("metrics[\(i)]", "\(s) would name two columns of the results (a run field or a factor path)")
                }
                metrics.append(s)
            }
        }
        var control: JSONValue?
        if let c = o["control"], c != .null {
            guard c.stringValue != nil || c.intValue != nil else { throw StudyError("control", "must be a cell name or index") }
            control = c
        }
        var maxRuns = Self.defaultMaxRuns
        if let m = o["max_runs"], m != .null {
            guard let n = m.intValue, (1...Self.runCeiling).contains(n) else {
                throw StudyError("max_runs", "must be an integer from 1 to \(Self.runCeiling)")
            }
            maxRuns = n
        }
        return StudyDesign(name: name, base: .object(baseObject), factors: factors, layout: layout, ablate: ablate, yoked: yoked,
                           seeds: seeds, metrics: metrics, control: control, maxRuns: maxRuns)
    }

    /// The channels and mechanisms present in a spec's neuromodulation section, in `ablatable` order.
    static func mechanisms(in spec: JSONValue) -> [String] {
        guard case .object(let nm)? = spec.objectValue?["neuromodulation"] else { return [] }
        return ablatable.filter { key in
            if key == "context_gating" { return nm["context"]?.objectValue?["gating_keep"].map { $0 != .null } ?? false }
            return nm[key].map { $0 != .null } ?? false
        }
    }

    /// The normalised design as JSON (stored with the study).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "name": .string(name), "base": base, "design": .string(layout.rawValue),
            "factors": .array(factors.map { .object(["path": .string($0.path), "values": .array($0.values)]) }),
            "ablate": .array(ablate.map { .string($0) }), "controls": .array(yoked ? [.string("yoked")] : []),
            "seeds": .numbers(seeds.map(Double.init)), "metrics": .array(metrics.map { .string($0) }),
            "max_runs": .number(Double(maxRuns)),
        ]
        if let control { o["control"] = control }
        return .object(o)
    }
}
