import Foundation
import Engine
import ObjectStore
import Storage
import Support

/// Served models that keep learning: adaptation policies per alias, feedback on predictions,
/// snapshots as model versions, the canary floor and the drift bound.
///
/// One node adapts an alias: the one that receives its feedback (route an alias's feedback to one
/// node). Its snapshots are versions in the shared registry, so every node serves them.
extension ModelServer {
    /// Where an alias's adaptation stands.
    public struct AdaptationStatus {
        public var record: AdaptationRecord
        public var policy: AdaptationPolicy
        /// The version the alias points at (the last snapshot) and the updates made since it.
        public var version: Int
        public var updates: Int
        public var updatesSinceSnapshot: Int
        public var feedback: Int
        public var applied: Int
        /// Of the labelled feedbacks: the fraction answered right, over all and over the last 200.
        public var accuracy: Double?
        public var recentAccuracy: Double?
        public var drift: Double
        public var canaryAccuracy: Double?
        public var canaryRows: Int
        public var lastStep: ReadoutLearner.Step?
    }

    /// What one feedback did.
    public struct FeedbackResult {
        public var predictionID: String
        /// Whether it changed the readout (false: the prediction came without adaptation, or the
        /// alias's adaptation is frozen or stopped).
        public var applied: Bool
        public var reason: String?
        public var alias: String?
        public var step: ReadoutLearner.Step?
        public var updates: Int?
        /// The alias's version after this feedback, and the snapshot it wrote, if any.
        public var version: Int?
        public var snapshot: Int?
        public var state: String?
    }

    /// Largest canary set.
    public static let maxCanaryRows = 5_000

    static func key(_ name: String, _ alias: String) -> String { "\(name)/\(alias)" }

    /// The adaptive alias `name/alias` on this node (one whose restore failed, at start-up or after
    /// a conflict, is tried again here until it loads, turns out stopped, or cannot continue).
    func adaptiveAlias(name: String, alias: String) -> AdaptiveAlias? {
        let key = Self.key(name, alias)
        adaptiveLock.lock()
        let a = adaptive[key], retry = a == nil && unrestored.contains(key)
        adaptiveLock.unlock()
        guard retry else { return a }
        let record: AdaptationRecord?
        do { record = try store.adaptation(name: name, alias: alias) } catch { return nil }   // tried again next time
        do {
            guard let record else { settled(key); return nil }
            let restored = try restore(record)
            settled(key)
            return restored
        } catch ServingError.conflict {
            settled(key)   // stopped: its version cannot continue it
            return nil
        } catch {
            return nil
        }
    }

    /// `key`'s adaptation is to be loaded from the store when next asked about.
    func markUnrestored(_ key: String) {
        adaptiveLock.lock()
        unrestored.insert(key)
        adaptiveLock.unlock()
    }

    /// `key`'s adaptation is loaded, or known to be gone: no more store look-ups for it.
    private func settled(_ key: String) {
        adaptiveLock.lock()
        unrestored.remove(key)
        adaptiveLock.unlock()
    }

    /// Loads an alias's adaptation as stored. One whose alias now points at a version that cannot
    /// continue it (another readout shape) is stopped, with an event, and a 409 thrown.
    @discardableResult
    func restore(_ record: AdaptationRecord) throws -> AdaptiveAlias {
        let policy = try JSONDecoder().decode(AdaptationPolicy.self, from: Data(record.policy.utf8))
        let v = try store.resolveModelVersion(name: record.name, version: nil, alias: record.alias)   // fresh, not remembered
        let model = try model(v).model
        let base = try self.model(try store.resolveModelVersion(name: record.name, version: record.baseVersion, alias: nil)).model
        guard let start = model.readout, let anchor = base.readout, start.features == anchor.features, start.classes == anchor.classes,
              model.inputWidth == base.inputWidth else {
            let reason = "alias \(record.alias) points at version \(v.version), whose readout cannot continue the adaptation begun at version \(record.baseVersion)"
            try? store.stopAdaptation(name: record.name, alias: record.alias, generation: record.generation, data: Self.reasonData(reason))
            dropAdaptive(name: record.name, alias: record.alias) { $0.generation == record.generation }
            throw ServingError.conflict(reason)
        }
        let canary = try record.canary.map { try Self.decodeCanary($0) }
        let a = AdaptiveAlias(name: record.name, alias: record.alias, generation: record.generation, policy: policy, baseVersion: record.baseVersion,
                              version: v, model: model, anchor: anchor, updates: record.updates, canary: canary,
                              frozenReason: record.state == "frozen" ? (record.reason ?? "frozen") : nil, batching: options.batching)
        adaptiveLock.lock()
        adaptive[Self.key(record.name, record.alias)] = a
        adaptiveLock.unlock()
        return a
    }

    /// Starts adaptation of `alias` under `policy` from the version it points at now (replacing
    /// any earlier adaptation of it, frozen or not). The canary floor needs a canary set.
    public func startAdaptation(name: String, alias: String, policy: AdaptationPolicy,
                                canary: (inputs: [[Float]], labels: [Int])?) throws -> AdaptationStatus {
        let v = try resolve(name: name, alias: alias)
        let model = try model(v).model
        guard let readout = model.readout else {
            throw ServingError.conflict("version \(v.version) of model \(name) cannot adapt: only plain MLP classifiers (no tasks, contexts or value outputs) have a readout that adapts on its own")
        }
        guard AdaptiveAlias.canAdapt(readout) else {
            throw ServingError.conflict("version \(v.version) of model \(name) has a readout of \(readout.features) × \(readout.classes); adaptation takes at most \(AdaptiveAlias.maxFeatures) features and \(AdaptiveAlias.maxClasses) classes")
        }
        if policy.canaryFloor != nil && canary == nil { throw ServingError.badInput(field: "canary", message: "canary_floor needs a canary set") }
        if let canary {
            guard !canary.inputs.isEmpty, canary.inputs.count <= Self.maxCanaryRows else {
                throw ServingError.badInput(field: "canary.inputs", message: "must hold 1 to \(Self.maxCanaryRows) inputs")
            }
            guard canary.labels.count == canary.inputs.count else {
                throw ServingError.badInput(field: "canary.labels", message: "must hold one label per input (\(canary.inputs.count))")
            }
            if let bad = canary.labels.firstIndex(where: { !(0..<readout.classes).contains($0) }) {
                throw ServingError.badInput(field: "canary.labels[\(bad)]", message: "must be a class from 0 to \(readout.classes - 1)")
            }
            for (i, row) in canary.inputs.enumerated() {
                guard row.count == model.inputWidth else {
                    throw ServingError.badInput(field: "canary.inputs[\(i)]", message: "has \(row.count) values; the model takes \(model.inputWidth)")
                }
                guard row.allSatisfy(\.isFinite) else { throw ServingError.badInput(field: "canary.inputs[\(i)]", message: "holds a value that is not finite") }
            }
        }
        let policyJSON = String(decoding: try JSONEncoder().encode(policy), as: UTF8.self)
        let canaryJSON = canary.map { Self.encodeCanary($0) }
        let stored = try store.startAdaptation(name: name, alias: alias, policy: policyJSON, canary: canaryJSON,
                                               data: String(decoding: JSONValue.object(["policy": policy.json]).serialized(), as: UTF8.self))
        forgetResolutions(of: name)
        settled(Self.key(name, alias))
        let a = try restore(stored)
        return status(a, record: stored)
    }

    /// Stops adaptation of an alias; it keeps pointing at its last snapshot.
    public func stopAdaptation(name: String, alias: String) throws {
        try store.stopAdaptation(name: name, alias: alias, generation: nil, data: Self.reasonData("stopped by a client"))
        dropAdaptive(name: name, alias: alias)
    }

    /// Forgets this node's adaptive alias `name/alias` — only if it is the one `matching` picks
    /// (another start may have replaced it meanwhile).
    func dropAdaptive(name: String, alias: String, matching: (AdaptiveAlias) -> Bool = { _ in true }) {
        let key = Self.key(name, alias)
        adaptiveLock.lock()
        if let a = adaptive[key], matching(a) { adaptive[key] = nil }
        adaptiveLock.unlock()
    }

    /// The alias's adaptation as it stands on this node.
    public func adaptationStatus(name: String, alias: String) throws -> AdaptationStatus {
        guard let record = try store.adaptation(name: name, alias: alias) else {
            throw ServingError.notFound("adaptation of alias \(alias) of model \(name)")
        }
        let a = try adaptiveAlias(name: name, alias: alias) ?? restore(record)
        return status(a, record: record)
    }

    private func status(_ a: AdaptiveAlias, record: AdaptationRecord) -> AdaptationStatus {
        a.learning.lock()
        defer { a.learning.unlock() }
        var r = record
        r.state = a.frozenReason == nil ? "active" : "frozen"
        r.reason = a.frozenReason
        let c = a.counters
        return AdaptationStatus(record: r, policy: a.policy, version: a.current.version.version, updates: a.learner.updates,
                                updatesSinceSnapshot: a.learner.updates - a.updatesAtSnapshot, feedback: c.feedback, applied: c.applied,
                                accuracy: c.labelled == 0 ? nil : Double(c.correct) / Double(c.labelled), recentAccuracy: c.recentAccuracy,
                                drift: a.learner.drift, canaryAccuracy: a.canaryAccuracy, canaryRows: a.canary?.labels.count ?? 0,
                                lastStep: a.lastStep)
    }

    /// An alias of `name` was moved or deleted (through this node, or — seen by a prediction —
    /// through another): an adaptive one restarts from its new version (a rollback), is reloaded
    /// when its adaptation was restarted elsewhere, and stops when its version cannot continue it.
    /// A store or object store that does not answer changes nothing (the next look tries again).
    public func aliasChanged(name: String, alias: String) {
        forgetResolutions(of: name)
        guard let a = adaptiveAlias(name: name, alias: alias) else { return }
        let v: ModelVersionRecord
        do { v = try store.resolveModelVersion(name: name, version: nil, alias: alias) } catch StoreError.notFound {
            dropAdaptive(name: name, alias: alias) { $0 === a }   // the alias is gone, and the store dropped its adaptation with it
            return
        } catch { return }
        let found: AdaptationRecord?
        do { found = try store.adaptation(name: name, alias: alias) } catch { return }
        guard let model = try? model(v).model else { return }
        a.learning.lock()
        defer { a.learning.unlock() }
        guard a.current.version.version != v.version else { return }
        guard let record = found, record.generation == a.generation else {
            // Stopped, or restarted elsewhere: this learner is stale; a restarted one is loaded on next use.
            dropAdaptive(name: name, alias: alias) { $0 === a }
            if found != nil { markUnrestored(Self.key(name, alias)) }
            return
        }
        if a.accepts(model) {
            a.moved(to: v, model: model)
        } else {
            try? store.stopAdaptation(name: name, alias: alias, generation: a.generation,
                                      data: Self.reasonData("alias \(alias) moved to version \(v.version), whose readout cannot continue the adaptation"))
            dropAdaptive(name: name, alias: alias) { $0 === a }
        }
    }

    /// Applies a client's outcome for prediction `id` of model `name`: 404 for an unknown or
    /// expired id, 409 when feedback was already given for it, 429 beyond the model's rate.
    public func feedback(name: String, predictionID id: String, outcome: AdaptationOutcome) throws -> FeedbackResult {
        let unknown = ServingError.notFound("prediction \(id) of model \(name) (predictions are remembered for \(Int(options.predictionTTL)) s)")
        // Unknown ids are answered before the rate limit, so made-up model names create no limiter.
        guard ledger.contains(id, model: name) else { throw unknown }
        adaptiveLock.lock()
        if feedbackBuckets.count > 10_000 { feedbackBuckets.removeAll() }   // names no one uses any more are forgotten
        let bucket = feedbackBuckets[name] ?? {
            let b = TokenBucket(rate: options.feedbackPerSecond, burst: max(1, options.feedbackPerSecond))
            feedbackBuckets[name] = b
            return b
        }()
        let wait = bucket.take()
        adaptiveLock.unlock()
        if let wait { throw ServingError.rateLimited(retryAfter: wait) }
        let entry: PredictionLedger.Entry
        switch ledger.claim(id, model: name) {
        case .unknown: throw unknown   // expired since the look above
        case .alreadyGiven: throw ServingError.conflict("feedback for prediction \(id) was already given")
        case .found(let e): entry = e
        }
        if case .label(let y) = outcome, !(0..<entry.classes).contains(y) {
            ledger.unclaim(id)
            throw ServingError.badInput(field: "label", message: "must be a class from 0 to \(entry.classes - 1)")
        }
        var result = FeedbackResult(predictionID: id, applied: false, alias: entry.alias, version: entry.version)
        guard let alias = entry.alias, let features = entry.features,
              let a = adaptiveAlias(name: name, alias: alias), a.generation == entry.generation else {
            result.reason = entry.alias == nil ? "the prediction was not made through an adapting alias"
                                               : "adaptation of alias \(entry.alias!) has stopped or restarted since this prediction"
            return result
        }
        a.learning.lock()
        defer { a.learning.unlock() }
        a.counters.feedback += 1
        if case .label(let y) = outcome { a.counters.noteCorrect(entry.answered == y) }
        result.state = a.frozenReason == nil ? "active" : "frozen"
        guard a.frozenReason == nil else {
            result.reason = "adaptation of alias \(alias) is frozen: \(a.frozenReason!)"
            result.version = a.current.version.version
            return result
        }
        guard let step = a.learn(features: features, answered: entry.answered, outcome: outcome) else {
            result.reason = "the update would not be finite (inputs far outside the training range); nothing changed"
            result.version = a.current.version.version
            return result
        }
        a.counters.applied += 1
        result.applied = true
        result.step = step
        if step.shiftDetected {
            try? store.recordModelEvent(name: name, alias: alias, kind: "shift_detected", version: a.current.version.version,
                                        data: Self.eventData(["noradrenaline": step.noradrenaline, "surprise": step.surprise, "updates": Double(a.learner.updates)]))
        }
        if a.snapshotDue {
            result.snapshot = snapshot(a)
            result.state = a.frozenReason == nil ? "active" : "frozen"
        }
        result.updates = a.learner.updates
        result.version = a.current.version.version
        return result
    }

    /// Checks the canary, then writes the learner's readout as the next version and moves the
    /// alias to it (the caller holds `a.learning`). Returns the new version, or nil when the
    /// canary froze adaptation or the write failed (it is tried again at the next feedback).
    private func snapshot(_ a: AdaptiveAlias) -> Int? {
        let parent = a.current.version
        if let floor = a.policy.canaryFloor, let accuracy = a.checkCanary(), accuracy < floor {
            freeze(a, reason: "canary accuracy \(Self.format(accuracy)) fell below the floor \(Self.format(floor))",
                   data: ["canary_accuracy": accuracy, "floor": floor, "updates": Double(a.learner.updates)])
            return nil
        }
        do {
            guard let base = try store.checkpoint(runID: parent.runID, id: parent.checkpointID) else {
                throw ServingError.gone("the checkpoint of version \(parent.version) no longer exists")
            }
            let data = try a.current.model.checkpoint(try files.read(relative: base.file), withReadout: a.learner.current, metadata: [
                "adapted_from": "\(parent.name) version \(parent.version)", "adaptation_alias": a.alias,
                "adaptation_updates": String(a.learner.updates), "adaptation_base_version": String(a.baseVersion),
            ])
            if let quota = options.diskQuotaBytes, try store.storedBytes() + data.count > quota {
                freeze(a, reason: "disk quota: a snapshot of \(data.count) bytes would pass --disk-quota-bytes",
                       data: ["bytes": Double(data.count), "updates": Double(a.learner.updates)])
                return nil
            }
            let id = Identifier.make("ckpt")
            let relative = files.relativeName(runID: parent.runID, checkpointID: id)
            try files.write(data, relative: relative)
            let record = CheckpointRecord(id: id, runID: parent.runID, step: base.step, file: relative, size: data.count,
                                          sha256: SHA256.hex(data), createdAt: Date().timeIntervalSince1970)
            let v: ModelVersionRecord
            do {
                v = try store.recordAdaptedVersion(name: a.name, alias: a.alias, generation: a.generation, parent: parent.version, checkpoint: record,
                                                   updates: a.learner.updates,
                                                   data: Self.eventData(["updates": Double(a.learner.updates), "drift": a.learner.drift,
                                                                         "canary_accuracy": a.canaryAccuracy ?? .nan]))
            } catch {
                files.remove(relative: relative)
                throw error
            }
            a.snapshotRecorded(v)
            forgetResolutions(of: a.name)
            for doomed in (try? store.pruneAdaptedVersions(name: a.name, keep: options.keepAdaptedVersions)) ?? [] {
                files.remove(relative: doomed.file)
            }
            return v.version
        } catch StoreError.conflict(let why) {
            // The registry moved on without this learner (a rollback or a restart through another
            // node, or a stop): it is dropped and reloaded from the store when next used.
            a.snapshotFailed()
            try? store.recordModelEvent(name: a.name, alias: a.alias, kind: "snapshot_failed", version: parent.version,
                                        data: Self.reasonData(why))
            dropAdaptive(name: a.name, alias: a.alias) { $0 === a }
            markUnrestored(Self.key(a.name, a.alias))
            return nil
        } catch {
            a.snapshotFailed()
            try? store.recordModelEvent(name: a.name, alias: a.alias, kind: "snapshot_failed", version: parent.version,
                                        data: Self.reasonData("\(error)"))
            return nil
        }
    }

    private func freeze(_ a: AdaptiveAlias, reason: String, data: [String: Double]) {
        a.freeze(reason)
        try? store.freezeAdaptation(name: a.name, alias: a.alias, generation: a.generation, reason: reason, version: a.current.version.version,
                                    data: Self.eventData(data))
    }

    static func reasonData(_ reason: String) -> String {
        String(decoding: JSONValue.object(["reason": .string(reason)]).serialized(), as: UTF8.self)
    }

    static func format(_ x: Double) -> String { String(format: "%.4f", x) }

    static func eventData(_ values: [String: Double]) -> String {
        String(decoding: JSONValue.object(values.mapValues { $0.isFinite ? .number($0) : .null }).serialized(), as: UTF8.self)
    }

    static func encodeCanary(_ c: (inputs: [[Float]], labels: [Int])) -> String {
        let o = JSONValue.object(["inputs": .array(c.inputs.map { .array($0.map { .number(Double($0)) }) }),
                                  "labels": .array(c.labels.map { .number(Double($0)) })])
        return String(decoding: o.serialized(), as: UTF8.self)
    }

    static func decodeCanary(_ text: String) throws -> (inputs: [[Float]], labels: [Int]) {
        guard case .object(let o)? = JSONValue.parse(Data(text.utf8)), case .array(let rows)? = o["inputs"], case .array(let labels)? = o["labels"] else {
            throw ServingError.unsupported("the stored canary set cannot be read")
        }
        let inputs = rows.map { row -> [Float] in
            guard case .array(let values) = row else { return [] }
            return values.map { Float($0.numberValue ?? 0) }
        }
        return (inputs, labels.map { $0.intValue ?? 0 })
    }
}
