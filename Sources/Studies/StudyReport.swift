import Foundation
import Support
import Engine
import Storage

/// A study's table, computed from stored results only (succeeded runs' final summaries), so a
/// restart loses nothing: per cell n, mean, sd, 95% bootstrap interval and per-seed values; per
/// non-control cell the seed-paired difference against the control with its interval, the sign-flip
/// p and the Holm-adjusted p (over the non-control cells, per metric).
public enum StudyReport {
    /// A summary value at a dotted path (`average_accuracy`, `neuromodulators.noradrenaline.surprise`);
    /// nil when missing or not a finite number.
    public static func value(in summary: JSONValue, at path: String) -> Double? {
        var node: JSONValue? = summary
        for part in path.split(separator: ".") {
            switch node {
            case .object(let o)?: node = o[String(part)]
            case .array(let a)?:
                guard let i = Int(part), a.indices.contains(i) else { return nil }
                node = a[i]
            default: return nil
            }
        }
        guard let d = node?.numberValue, d.isFinite else { return nil }
        return d
    }

    /// Per cell, per seed, the metric's value (succeeded runs only).
    static func values(_ metric: String, cells: Int, runs: [(cell: Int, seed: Int, summary: JSONValue)]) -> [[Int: Double]] {
        var out = [[Int: Double]](repeating: [:], count: cells)
        for r in runs where (0..<cells).contains(r.cell) {
            if let v = value(in: r.summary, at: metric) { out[r.cell][r.seed] = v }
        }
        return out
    }

    /// The table for `metrics` over `cells` against cell `control`.
    public static func table(cells: [StudyCell], control: Int, metrics: [String],
                             runs: [(cell: Int, seed: Int, summary: JSONValue)]) -> JSONValue {
        .array(metrics.map { metric in
            let byCell = values(metric, cells: cells.count, runs: runs)
            let controlValues = byCell.indices.contains(control) ? byCell[control] : [:]
            var comparisons: [Int: (d: [Double], p: Double)] = [:]
            for c in cells.indices where c != control {
                let seeds = byCell[c].keys.filter { controlValues[$0] != nil }.sorted()
                guard !seeds.isEmpty else { continue }
                let d = seeds.map { byCell[c][$0]! - controlValues[$0]! }
                comparisons[c] = (d, StudyStatistics.signFlipP(d, seed: UInt64(c + 1)))
            }
            let compared = comparisons.keys.sorted()
            let holm = StudyStatistics.holm(compared.map { comparisons[$0]!.p })
            let adjusted = Dictionary(uniqueKeysWithValues: zip(compared, holm))
            let rows: [JSONValue] = cells.map { cell in
                let seeds = byCell[cell.index].keys.sorted()
                let x = seeds.map { byCell[cell.index][$0]! }
                var row: [String: JSONValue] = [
                    "cell": .number(Double(cell.index)), "name": .string(cell.name), "n": .number(Double(x.count)),
                    "per_seed": .object(Dictionary(uniqueKeysWithValues: seeds.map { (String($0), JSONValue.number(byCell[cell.index][$0]!)) })),
                ]
                let s = StudyStatistics.summarize(x, seed: UInt64(cell.index + 1))
                row["mean"] = x.isEmpty ? .null : .number(s.mean)
                row["sd"] = s.sd.map { .number($0) } ?? .null
                row["ci95"] = s.ci95.map { .numbers([$0.0, $0.1]) } ?? .null
                if let cmp = comparisons[cell.index] {
                    let ds = StudyStatistics.summarize(cmp.d, seed: UInt64(1000 + cell.index))
                    row["vs_control"] = .object([
                        "n": .number(Double(cmp.d.count)), "mean_difference": .number(ds.mean),
                        "sd": ds.sd.map { .number($0) } ?? .null,
                        "ci95": ds.ci95.map { .numbers([$0.0, $0.1]) } ?? .null,
                        "p": .number(cmp.p), "p_holm": .number(adjusted[cell.index] ?? cmp.p),
                    ])
                } else {
                    row["vs_control"] = .null
                }
                return .object(row)
            }
            return .object(["metric": .string(metric), "control": .number(Double(control)), "cells": .array(rows)])
        })
    }

    /// `queued` (nothing started), `running`, `succeeded` (every run), `failed` (ended, some not
    /// succeeded) or `canceled`.
    public static func state(counts: [RunState: Int], cancelRequested: Bool) -> String {
        let open = (counts[.queued] ?? 0) + (counts[.running] ?? 0)
        let total = counts.values.reduce(0, +)
        if open > 0 {
            return (counts[.queued] ?? 0) == total ? "queued" : "running"
        }
        if cancelRequested && (counts[.canceled] ?? 0) > 0 { return "canceled" }
        return (counts[.succeeded] ?? 0) == total ? "succeeded" : "failed"
    }
}
