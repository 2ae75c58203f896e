import Foundation
import Support
import Engine
import Storage

/// What a study's table needs of one run.
public struct StudyRunResult: Sendable {
    public var id: String
    public var cell: Int
    public var seed: Int
    public var state: RunState
    public var specHash: String
    /// The run's summary (final once it succeeded).
    public var summary: JSONValue?

    public init(id: String, cell: Int, seed: Int, state: RunState, specHash: String, summary: JSONValue?) {
        self.id = id
        self.cell = cell
        self.seed = seed
        self.state = state
        self.specHash = specHash
        self.summary = summary
    }

    init(_ r: RunRecord) {
        self.init(id: r.id, cell: r.studyCell ?? -1, seed: r.studySeed ?? -1, state: r.state, specHash: r.specHash,
                  summary: r.summary.flatMap { JSONValue.parse(Data($0.utf8)) })
    }
}

/// Studies as a resource: creates them (expansion, validation, all runs queued in one
/// transaction), reports them from stored results, lists, cancels and exports them. The only
/// place studies join Engine and Storage.
public final class StudyService: @unchecked Sendable {
    let store: Store
    let limits: SpecLimits

    /// Resolves uploaded data sets named by cells' specs.
    let catalog: ExperimentSpec.DatasetCatalog

    public init(store: Store, limits: SpecLimits = SpecLimits(), catalog: @escaping ExperimentSpec.DatasetCatalog = { _ in nil }) {
        self.store = store
        self.limits = limits
        self.catalog = catalog
    }

    /// Validates and expands `body` and queues the study's runs; returns the study (and whether it
    /// was created now rather than found under the same idempotency key).
    public func create(experimentID: String, body: JSONValue, idempotencyKey: String? = nil) throws -> (StudyRecord, created: Bool) {
        let design = try StudyDesign.parse(body)
        let plan = try StudyPlan.make(design, limits: limits, catalog: catalog)
        let runs = plan.runs.map { run -> StudyRunPlan in
            let spec = String(decoding: run.spec.canonicalJSON(), as: UTF8.self)
            return StudyRunPlan(cell: run.cell, seed: run.seed, spec: spec, specHash: run.spec.hash,
                                progressTotal: run.spec.totalSteps, progressUnit: "steps", after: run.after)
        }
        return try store.createStudy(experimentID: experimentID, name: design.name, design: design.json.serializedString,
                                     cells: JSONValue.array(plan.cells.map(\.json)).serializedString,
                                     metrics: JSONValue.array(plan.metrics.map { .string($0) }).serializedString,
                                     controlCell: plan.controlCell, runs: runs, idempotencyKey: idempotencyKey,
                                     requestHash: SHA256.hex(body.serialized()))
    }

    public func study(id: String) throws -> StudyRecord {
        guard let s = try store.study(id: id) else { throw StoreError.notFound("study \(id)") }
        return s
    }

    /// The study's cells as stored.
    public static func cells(of study: StudyRecord) -> [StudyCell] {
        (JSONValue.parse(Data(study.cells.utf8))?.arrayValue ?? []).compactMap(StudyCell.init(json:))
    }

    public static func metrics(of study: StudyRecord) -> [String] {
        (JSONValue.parse(Data(study.metrics.utf8))?.arrayValue ?? []).compactMap(\.stringValue)
    }

    /// The full report: state, runs by state, cells, and the table (from succeeded runs' summaries).
    public func report(id: String) throws -> JSONValue {
        let study = try study(id: id)
        let runs = try store.studyRuns(studyID: id)
        // The table's bootstrap and sign-flip statistics cost milliseconds to seconds on large
        // studies: computed once per state of the study's runs, then served from memory.
        let fingerprint = "\(study.cancelRequested)|\(runs.count)|\(runs.map(\.updatedAt).max() ?? 0)|\(runs.filter { $0.state == .succeeded }.count)"
        if let hit = cache.value(study.id, fingerprint) { return hit }
        let report = Self.report(study, runs: runs)
        cache.store(study.id, fingerprint, report)
        return report
    }

    private let cache = ReportCache()

    /// The last report of recently read studies, each with the state of the runs it was made from.
    final class ReportCache: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [String: (fingerprint: String, report: JSONValue, used: UInt64)] = [:]
        private var clock: UInt64 = 0
        static let capacity = 64

        func value(_ id: String, _ fingerprint: String) -> JSONValue? {
            lock.lock(); defer { lock.unlock() }
            guard let e = entries[id], e.fingerprint == fingerprint else { return nil }
            clock += 1
            entries[id]?.used = clock
            return e.report
        }

        func store(_ id: String, _ fingerprint: String, _ report: JSONValue) {
            lock.lock(); defer { lock.unlock() }
            clock += 1
            entries[id] = (fingerprint, report, clock)
            if entries.count > Self.capacity, let oldest = entries.min(by: { $0.value.used < $1.value.used })?.key {
                entries[oldest] = nil
            }
        }
    }

    /// The report of a stored study and its runs.
    public static func report(_ study: StudyRecord, runs: [RunRecord]) -> JSONValue {
        var report = Self.report(cells: cells(of: study), control: study.controlCell, metrics: metrics(of: study),
                                 results: runs.map(StudyRunResult.init), cancelRequested: study.cancelRequested)
        if case .object(var o) = report {
            o["id"] = .string(study.id)
            o["experiment_id"] = .string(study.experimentID)
            o["name"] = .string(study.name)
            o["created_at"] = .timestamp(study.createdAt)
            o["design"] = .stored(study.design)
            report = .object(o)
        }
        return report
    }

    /// State, runs by state, cells, control and table of a study's results (stored, or in-process
    /// in `neuromod study`: the same code).
    public static func report(cells: [StudyCell], control: Int, metrics: [String], results: [StudyRunResult],
                              cancelRequested: Bool) -> JSONValue {
        var counts: [RunState: Int] = [:]
        for r in results { counts[r.state, default: 0] += 1 }
        let finished = results.compactMap { r -> (cell: Int, seed: Int, summary: JSONValue)? in
            guard r.state == .succeeded, let summary = r.summary else { return nil }
            return (r.cell, r.seed, summary)
        }
        var byState: [String: JSONValue] = ["total": .number(Double(results.count))]
        for state in RunState.allCases { byState[state.rawValue] = .number(Double(counts[state] ?? 0)) }
        return .object([
            "state": .string(StudyReport.state(counts: counts, cancelRequested: cancelRequested)),
            "runs": .object(byState),
            "cells": .array(cells.map(\.json)),
            "control": .object(["cell": .number(Double(control)), "name": cells.indices.contains(control) ? .string(cells[control].name) : .null]),
            "metrics": .array(metrics.map { .string($0) }),
            "table": StudyReport.table(cells: cells, control: control, metrics: metrics, runs: finished),
        ])
    }

    public func list(experimentID: String?, after: Int?, limit: Int) throws -> Page<StudyRecord> {
        try store.listStudies(experimentID: experimentID, after: after, limit: limit)
    }

    /// Cancels the study's queued runs and asks its running ones to stop; returns the running ones.
    public func cancel(id: String) throws -> [String] {
        try store.cancelStudy(id: id)
    }

    /// One row per run: cell, factor values, seed, state, spec hash, engine version, metrics.
    public func rows(id: String) throws -> (columns: [String], rows: [[JSONValue]]) {
        let study = try study(id: id)
        return Self.rows(study, runs: try store.studyRuns(studyID: id))
    }

    public static func rows(_ study: StudyRecord, runs: [RunRecord]) -> (columns: [String], rows: [[JSONValue]]) {
        rows(cells: cells(of: study), metrics: metrics(of: study), results: runs.map(StudyRunResult.init))
    }

    public static func rows(cells: [StudyCell], metrics: [String], results runs: [StudyRunResult]) -> (columns: [String], rows: [[JSONValue]]) {
        let factorPaths = Array(Set(cells.flatMap { $0.factors.keys })).sorted()
        let columns = ["run_id", "cell", "cell_name", "kind", "seed", "state", "spec_hash", "engine_version"]
            + factorPaths + metrics
        let rows: [[JSONValue]] = runs.map { r in
            let cell = cells.indices.contains(r.cell) ? cells[r.cell] : nil
            let summary = r.state == .succeeded ? r.summary : nil
            var row: [JSONValue] = [.string(r.id), .number(Double(r.cell)), cell.map { .string($0.name) } ?? .null,
                                    cell.map { .string($0.kind.rawValue) } ?? .null, .number(Double(r.seed)),
                                    .string(r.state.rawValue), .string(r.specHash), .string(EngineInfo.version)]
            row += factorPaths.map { cell?.factors[$0] ?? .null }
            row += metrics.map { m in summary.flatMap { StudyReport.value(in: $0, at: m) }.map { .number($0) } ?? .null }
            return row
        }
        return (columns, rows)
    }

    /// RFC 4180 CSV of `rows` (values as JSON scalars; strings quoted when needed).
    public static func csv(columns: [String], rows: [[JSONValue]]) -> String {
        func cell(_ v: JSONValue) -> String {
            let text: String
            switch v {
            case .null: return ""
            case .string(let s): text = s
            default: text = v.serializedString
            }
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        var out = columns.map { cell(.string($0)) }.joined(separator: ",") + "\r\n"
        for row in rows { out += row.map(cell).joined(separator: ",") + "\r\n" }
        return out
    }

    /// One JSON object per line.
    public static func jsonl(columns: [String], rows: [[JSONValue]]) -> String {
        rows.map { JSONValue.object(Dictionary(zip(columns, $0), uniquingKeysWith: { first, _ in first })).serializedString + "\n" }.joined()
    }
}
