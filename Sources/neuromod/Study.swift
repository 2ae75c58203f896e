import ArgumentParser
import Foundation
import Support
import Engine
import Storage
import Studies
#if canImport(Glibc)
import Glibc
#endif

/// Runs a study design in-process — the same expansion, training and statistics code as
/// `POST /v1/experiments/{id}/studies`, for a laptop without a server.
struct Study: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a study design in-process (no server); print its report as JSON on the last line.")

    @Option(help: "Path of a study design JSON file (the body of POST /v1/experiments/{id}/studies).") var spec: String
    @Option(help: "Training threads (one BLAS thread each).") var workers: Int = 1
    @Option(help: "Also write one row per run as CSV here.") var csv: String?
    @Option(name: .customLong("dataset-dir"), help: "Fashion-MNIST folder.") var datasetDir: String = DatasetLibrary.defaultFashionMNISTDirectory

    func run() throws {
        MemoryPolicy.returnLargeBlocks()
        guard let body = JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: spec))) else {
            throw ValidationError("\(spec) is not JSON")
        }
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be between 1 and 64") }
        let plan: StudyPlan
        do { plan = try StudyPlan.make(try StudyDesign.parse(body)) } catch let e as StudyError {
            throw ValidationError("\(e.field): \(e.message)")
        }
        let datasets = DatasetLibrary(directory: datasetDir)
        let started = Date()
        let results = try StudyRunner(plan: plan, datasets: datasets, workers: workers).run { done, total in
            FileHandle.standardError.write(Data("\r\(done)/\(total) runs".utf8))
        }
        FileHandle.standardError.write(Data("\n".utf8))
        var report = StudyService.report(cells: plan.cells, control: plan.controlCell, metrics: plan.metrics, results: results,
                                         cancelRequested: false)
        if case .object(var o) = report {
            o["name"] = .string(plan.design.name)
            o["wall_seconds"] = .number((Date().timeIntervalSince(started) * 100).rounded() / 100)
            o["workers"] = .number(Double(workers))
            report = .object(o)
        }
        if let csv {
            let (columns, rows) = StudyService.rows(cells: plan.cells, metrics: plan.metrics, results: results)
            try StudyService.csv(columns: columns, rows: rows).write(toFile: csv, atomically: true, encoding: .utf8)
        }
        print("REPORT " + report.serializedString)
    }
}

/// Trains a study plan's runs on `workers` threads; a yoked control starts once its source run
/// finished (it replays that run's recorded effect trace).
final class StudyRunner: @unchecked Sendable {
    let plan: StudyPlan
    let datasets: DatasetLibrary
    let workers: Int
    private let condition = NSCondition()
    private var next = 0
    private var finished: [Int: (result: StudyRunResult, trace: EffectTrace?)] = [:]
    private var failure: Error?

    init(plan: StudyPlan, datasets: DatasetLibrary, workers: Int) {
        self.plan = plan
        self.datasets = datasets
        self.workers = workers
    }

    private final class Quiet: TrainingObserver {
        func session(_ session: TrainingSession, emitted metrics: [MetricSample]) {}
        func sessionReachedCheckpoint(_ session: TrainingSession) throws {}
        func sessionShouldStop(_ session: TrainingSession) -> Bool { false }
    }

    func run(progress: @escaping @Sendable (Int, Int) -> Void) throws -> [StudyRunResult] {
        _ = try datasets.load("fashion-mnist")   // once, before the threads share it
        let group = DispatchGroup()
        for _ in 0..<workers {
            group.enter()
            let t = Thread { [self] in
                defer { group.leave() }
                while let i = take() {
                    let outcome = Self.train(plan.runs[i], index: i, plan: plan, datasets: datasets, source: sourceTrace(of: i))
                    condition.lock()
                    finished[i] = outcome
                    let done = finished.count
                    condition.broadcast()
                    condition.unlock()
                    progress(done, plan.runs.count)
                }
            }
            t.stackSize = 4 << 20
            t.start()
        }
        group.wait()
        return plan.runs.indices.map { finished[$0]!.result }
    }

    /// The next run whose source (if any) has finished; nil when none is left.
    private func take() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if next >= plan.runs.count { return nil }
            if let after = plan.runs[next].after, finished[after] == nil {
                condition.wait()
                continue
            }
            next += 1
            return next - 1
        }
    }

    private func sourceTrace(of i: Int) -> EffectTrace? {
        guard let after = plan.runs[i].after else { return nil }
        condition.lock()
        defer { condition.unlock() }
        return finished[after]?.trace
    }

    static func train(_ run: StudyPlan.Run, index: Int, plan: StudyPlan, datasets: DatasetLibrary,
                      source: EffectTrace?) -> (result: StudyRunResult, trace: EffectTrace?) {
        let id = "local-\(index)"
        do {
            let session = try FamilyRegistry.makeSession(spec: run.spec, datasets: datasets)
            if let replay = run.spec.replay {
                guard let source, source.count > 0 else { throw SpecError("replay", "the source run failed or recorded no effects") }
                try session.replayEffects(replay.apply(to: source))
            }
            _ = try session.run(observer: Quiet())
            return (StudyRunResult(id: id, cell: run.cell, seed: run.seed, state: .succeeded, specHash: run.spec.hash,
                                   summary: session.summary()), session.effectTrace)
        } catch {
            FileHandle.standardError.write(Data("\nrun \(index) (cell \(run.cell), seed \(run.seed)) failed: \(error)\n".utf8))
            return (StudyRunResult(id: id, cell: run.cell, seed: run.seed, state: .failed, specHash: run.spec.hash, summary: nil), nil)
        }
    }
}

/// The statistics of a study table for given values: per cell per seed, against a control cell.
/// Reads `{"cells": [{"name": "…", "values": {"<seed>": value, …}}, …], "control": 0}`.
struct StudyStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study-stats",
        abstract: "Compute a study table (means, bootstrap CIs, paired sign-flip tests, Holm) for given per-seed values.")

    @Option(help: "Path of the values JSON file.") var input: String

    func run() throws {
        guard case .object(let o)? = JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: input))),
              case .array(let cellValues)? = o["cells"] else { throw ValidationError("\(input): expected {\"cells\": [...], \"control\": n}") }
        var cells: [StudyCell] = []
        var results: [StudyRunResult] = []
        for (i, c) in cellValues.enumerated() {
            guard let co = c.objectValue, let values = co["values"]?.objectValue else { throw ValidationError("cells[\(i)] needs values") }
            cells.append(StudyCell(index: i, name: co["name"]?.stringValue ?? "cell \(i)", factors: [:], ablation: nil, kind: .run, source: nil))
            for (seed, v) in values {
                guard let s = Int(seed), let x = v.numberValue else { throw ValidationError("cells[\(i)].values: seeds map to numbers") }
                results.append(StudyRunResult(id: "\(i)-\(s)", cell: i, seed: s, state: .succeeded, specHash: "",
                                              summary: .object(["value": .number(x)])))
            }
        }
        let report = StudyService.report(cells: cells, control: o["control"]?.intValue ?? 0, metrics: ["value"], results: results,
                                         cancelRequested: false)
        print(report.serializedString)
    }
}
