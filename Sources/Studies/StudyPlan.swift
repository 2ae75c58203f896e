import Foundation
import Support
import Engine

/// One cell of a study: a variant of the base spec, run once per seed.
public struct StudyCell: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// An ordinary variant of the base spec.
        case run
        /// A yoked control replaying its source cell's effect traces, shuffled in time.
        case yokedShuffled = "yoked_shuffled"
        /// A yoked control applying the mean of its source cell's effect traces at every step.
        case yokedMean = "yoked_mean"
    }

    public var index: Int
    public var name: String
    /// Factor path → value (factor designs).
    public var factors: [String: JSONValue]
    /// `all on`, `without <x>`, `only <x>`, `none` (ablations).
    public var ablation: String?
    public var kind: Kind
    /// The cell a yoked control replays.
    public var source: Int?

    public var json: JSONValue {
        var o: [String: JSONValue] = ["index": .number(Double(index)), "name": .string(name), "kind": .string(kind.rawValue),
                                      "factors": .object(factors)]
        o["ablation"] = ablation.map { .string($0) } ?? .null
        o["source"] = source.map { .number(Double($0)) } ?? .null
        return .object(o)
    }

    public init(index: Int, name: String, factors: [String: JSONValue], ablation: String?, kind: Kind, source: Int?) {
        self.index = index
        self.name = name
        self.factors = factors
        self.ablation = ablation
        self.kind = kind
        self.source = source
    }

    /// Reads a stored cell.
    public init?(json: JSONValue) {
        guard let o = json.objectValue, let index = o["index"]?.intValue, let name = o["name"]?.stringValue,
              let kind = o["kind"]?.stringValue.flatMap(Kind.init(rawValue:)) else { return nil }
        self.init(index: index, name: name, factors: o["factors"]?.objectValue ?? [:], ablation: o["ablation"]?.stringValue,
                  kind: kind, source: o["source"]?.intValue)
    }
}

/// A design expanded into cells and runs, every run's spec validated.
public struct StudyPlan: Sendable {
    /// One run of the study: a cell at a seed.
    public struct Run: Sendable {
        public var cell: Int
        public var seed: Int
        public var spec: ExperimentSpec
        /// Index (in `runs`) of the run whose effect trace this yoked control replays.
        public var after: Int?
    }

    public let design: StudyDesign
    public let cells: [StudyCell]
    public let runs: [Run]
    public let controlCell: Int
    public let metrics: [String]

    /// Expands `design`: cells (factor grid or one at a time, or the ablation's variants, plus
    /// yoked controls), × seeds (seed-paired: a seed means the same data order and initial weights
    /// in every cell). Throws a ``StudyError`` naming the cell and field of the first invalid spec.
    public static func make(_ design: StudyDesign, limits: SpecLimits = SpecLimits(),
                            catalog: @escaping ExperimentSpec.DatasetCatalog = { _ in nil }) throws -> StudyPlan {
        var variants: [(name: String, factors: [String: JSONValue], ablation: String?, spec: JSONValue)] = []
        if !design.ablate.isEmpty {
            let all = design.ablate
            variants.append(("all on", [:], "all on", design.base))
            if all.count > 1 {
                for x in all { variants.append(("without \(x)", [:], "without \(x)", removing([x], from: design.base))) }
                for x in all { variants.append(("only \(x)", [:], "only \(x)", removing(all.filter { $0 != x }, from: design.base))) }
            }
            variants.append(("none", [:], "none", removing(all, from: design.base)))
        } else if !design.factors.isEmpty {
            var settings: [[(Int, JSONValue)]] = []
            switch design.layout {
            case .grid:
                settings = [[]]
                for (k, f) in design.factors.enumerated() {
                    settings = settings.flatMap { prefix in f.values.map { prefix + [(k, $0)] } }
                    if settings.count > design.maxRuns { throw tooMany(settings.count * design.seeds.count, design) }
                }
            case .oneAtATime:
                settings = [[]]
                for (k, f) in design.factors.enumerated() { settings += f.values.map { [(k, $0)] } }
            }
            for setting in settings {
                var spec = design.base
                var factors: [String: JSONValue] = [:]
                for (k, value) in setting {
                    let path = design.factors[k].path
                    spec = try set(path, to: value, in: spec, field: "factors[\(k)].path")
                    factors[path] = value
                }
                let name = setting.isEmpty ? "base"
                    : setting.map { "\(design.factors[$0.0].path)=\($0.1.serializedString)" }.joined(separator: ", ")
                variants.append((name, factors, nil, spec))
            }
        } else {
            variants.append(("base", [:], nil, design.base))
        }

        var cells: [StudyCell] = []
        var cellSpecs: [JSONValue] = []
        var parsed: [ExperimentSpec] = []
        for (i, v) in variants.enumerated() {
            let spec = try validate(v.spec, seed: design.seeds[0], cell: i, name: v.name, limits: limits, catalog: catalog)
            cells.append(StudyCell(index: i, name: v.name, factors: v.factors, ablation: v.ablation, kind: .run, source: nil))
            cellSpecs.append(v.spec)
            parsed.append(spec)
        }
        if design.yoked {
            let modulated = parsed.indices.filter { !parsed[$0].neuromodulation.channels.isEmpty }
            guard !modulated.isEmpty else { throw StudyError("controls", "no cell has a neuromodulation channel whose effects a control could replay") }
            for c in modulated {
                let family = FamilyRegistry.family(for: parsed[c])?.kind ?? "?"
                guard ["mlp", "snn"].contains(family) else {
                    throw StudyError("controls", "yoked controls replay the effects of MLP and spiking networks; cell \(c) (\(cells[c].name)) is of the \(family) family")
                }
                for kind in [StudyCell.Kind.yokedShuffled, .yokedMean] {
                    let label = kind == .yokedShuffled ? "yoked shuffled" : "yoked mean"
                    cells.append(StudyCell(index: cells.count, name: "\(cells[c].name) · \(label)", factors: cells[c].factors,
                                           ablation: cells[c].ablation, kind: kind, source: c))
                    cellSpecs.append(cellSpecs[c])
                }
            }
        }
        let total = cells.count * design.seeds.count
        guard total <= design.maxRuns else { throw tooMany(total, design, cells: cells.count) }

        var runs: [Run] = []
        var runIndex: [Int: Int] = [:]   // cell * seeds + seed position → run index
        for cell in cells {
            for (k, seed) in design.seeds.enumerated() {
                var spec = try validate(cellSpecs[cell.index], seed: seed, cell: cell.index, name: cell.name, limits: limits, catalog: catalog)
                var after: Int?
                if let source = cell.source {
                    spec.replay = ReplaySpec(mode: cell.kind == .yokedMean ? .mean : .shuffled, seed: UInt64(seed))
                    after = runIndex[source * design.seeds.count + k]
                }
                runIndex[cell.index * design.seeds.count + k] = runs.count
                runs.append(Run(cell: cell.index, seed: seed, spec: spec, after: after))
            }
        }

        var control = 0
        if let c = design.control {
            if let name = c.stringValue {
                guard let i = cells.firstIndex(where: { $0.name == name }) else {
                    throw StudyError("control", "no cell is named \(name); cells: \(cells.map(\.name).joined(separator: "; "))")
                }
                control = i
            } else if let i = c.intValue {
                guard cells.indices.contains(i) else { throw StudyError("control", "cell index \(i) is out of 0–\(cells.count - 1)") }
                control = i
            }
        }
        let metrics = design.metrics.isEmpty ? defaultMetrics(parsed[0]) : design.metrics
        return StudyPlan(design: design, cells: cells, runs: runs, controlCell: control, metrics: metrics)
    }

    /// What a study compares when the design names no metric.
    static func defaultMetrics(_ spec: ExperimentSpec) -> [String] {
        switch spec.protocol.kind {
        case .split, .permuted: return ["average_accuracy", "backward_transfer"]
        case .bandit, .reversal: return ["mean_reward"]
        case .intertemporal: return ["reward_per_step"]
        case .distalReward: return ["causal_weight"]
        case .single: return ["test_accuracy"]
        }
    }

    private static func tooMany(_ total: Int, _ design: StudyDesign, cells: Int? = nil) -> StudyError {
        StudyError("max_runs", "the design has \(total) runs" + (cells.map { " (\($0) cells × \(design.seeds.count) seeds)" } ?? "")
                   + "; max_runs is \(design.maxRuns) (at most \(StudyDesign.runCeiling))")
    }

    private static func validate(_ spec: JSONValue, seed: Int, cell: Int, name: String, limits: SpecLimits,
                                 catalog: ExperimentSpec.DatasetCatalog) throws -> ExperimentSpec {
        guard case .object(var o) = spec else { throw StudyError("base", "must be a run spec object") }
        o["seed"] = .number(Double(seed))
        do {
            return try ExperimentSpec.parse(.object(o), limits: limits, catalog: catalog)
        } catch {
            throw StudyError("cells[\(cell)].\(error.field)", "cell \(cell) (\(name)): \(error.message)")
        }
    }

    /// `spec` with the value at a dotted path replaced (objects on the way are created; array
    /// elements are addressed by index). The spec's own validation then judges the result.
    static func set(_ path: String, to value: JSONValue, in spec: JSONValue, field: String) throws -> JSONValue {
        let parts = path.split(separator: ".").map(String.init)
        func go(_ node: JSONValue?, _ i: Int) throws -> JSONValue {
            if i == parts.count { return value }
            let key = parts[i]
            switch node {
            case .object(var o)?:
                o[key] = try go(o[key], i + 1)
                return .object(o)
            case nil, .null?:
                return .object([key: try go(nil, i + 1)])
            case .array(var a)?:
                guard let k = Int(key), a.indices.contains(k) else {
                    throw StudyError(field, "\(path): \(parts[..<i].joined(separator: ".")) is an array of \(a.count); \(key) is not an index in it")
                }
                a[k] = try go(a[k], i + 1)
                return .array(a)
            default:
                throw StudyError(field, "\(path): \(parts[..<i].joined(separator: ".")) is a \(node!.typeName), not an object")
            }
        }
        return try go(spec, 0)
    }

    /// `spec` without the given neuromodulation channels and mechanisms.
    static func removing(_ mechanisms: [String], from spec: JSONValue) -> JSONValue {
        guard case .object(var root) = spec, case .object(var nm)? = root["neuromodulation"] else { return spec }
        for m in mechanisms {
            if m == "context_gating" {
                if case .object(var context)? = nm["context"] {
                    context["gating_keep"] = nil
                    context["inference"] = nil   // inference chooses among gated sub-networks: gone with them
                    nm["context"] = context.isEmpty ? nil : .object(context)
                }
            } else {
                nm[m] = nil
            }
        }
        root["neuromodulation"] = nm.isEmpty ? nil : .object(nm)
        return .object(root)
    }
}
