import Foundation

/// Context inference over gated sub-networks (XdG-style gates, Masse et al. 2018, chosen without
/// the task identity). Each context c has its own unit mask (`ContextGating.unitMasks(task: c)`) and
/// its own output group — the classes trained while it was active. A boundary opens a new context:
/// the protocol's (the oracle schedule), or a surprise spike the noradrenergic detector reports
/// (task-free). At test time each input is given the context whose head is least uncertain
/// (normalised predictive entropy over its group: acetylcholine's expected uncertainty), the
/// context an associative memory recalls for it (``ContextMemory``), the context its task was
/// trained in (oracle), or a seeded random one (control).
public struct ContextInference: Sendable, Equatable, Codable {
    public enum Selection: String, Sendable, Codable { case entropy, memory, oracle, random }

    public let selection: Selection
    public let maxContexts: Int
    /// The context being trained now, and how many have been opened.
    public private(set) var current = 0
    public private(set) var used = 1
    /// Per context: which outputs belong to its group.
    public private(set) var groups: [[Bool]]
    /// Per task (once it has been trained): the context it was trained in.
    public private(set) var contextOfTask: [Int: Int] = [:]
    /// Of the test inputs scored after the last task, the share given their task's own context.
    public private(set) var lastSelectionAccuracy: Double?

    public init(selection: Selection, maxContexts: Int, outputs: Int) {
        self.selection = selection
        self.maxContexts = maxContexts
        groups = [[Bool]](repeating: [Bool](repeating: false, count: outputs), count: maxContexts)
    }

    /// Opens the next context (no-op once all are in use); returns whether one was opened.
    @discardableResult
    mutating func openContext() -> Bool {
        guard used < maxContexts else { return false }
        current = used
        used += 1
        return true
    }

    /// Moves to context `c` (protocol boundaries: context = task).
    mutating func enter(_ c: Int) {
        current = min(c, maxContexts - 1)
        used = max(used, current + 1)
    }

    /// The current context trains on these outputs.
    mutating func add(outputs: [Int]) { for o in outputs { groups[current][o] = true } }

    mutating func taskTrained(_ t: Int) { contextOfTask[t] = current }

    mutating func record(selectionAccuracy: Double?) { lastSelectionAccuracy = selectionAccuracy }

    /// Normalised entropy of `p` over a group (1 for a group of fewer than two outputs: it can
    /// tell nothing apart).
    static func uncertainty(_ p: UnsafePointer<Float>, group: [Bool]) -> Double {
        let members = group.indices.filter { group[$0] }
        guard members.count >= 2 else { return 1 }
        var h = 0.0
        for o in members where p[o] > 0 { h -= Double(p[o]) * Foundation.log(Double(p[o])) }
        return h / Foundation.log(Double(members.count))
    }
}
