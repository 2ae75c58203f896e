import Foundation

extension Store {
    private static let experimentColumns = "seq, id, name, description, created_at"

    private static func experiment(_ r: Row) -> ExperimentRecord {
        ExperimentRecord(seq: r.int(0), id: r.string(1), name: r.string(2), description: r.string(3), createdAt: r.double(4))
    }

    /// Creates an experiment, or returns the one created earlier under the same idempotency key.
    /// - Returns: the record and whether it was created now.
    public func createExperiment(name: String, description: String, idempotencyKey: String? = nil,
                                 requestHash: String = "") throws -> (ExperimentRecord, created: Bool) {
        try pool.write { db in
            if let existing = try idempotentResource(db, scope: "experiments", key: idempotencyKey, requestHash: requestHash),
               let r = try db.execute("SELECT \(Self.experimentColumns) FROM experiments WHERE id = ?", existing).first {
                return (Self.experiment(r), false)
            }
            let id = Identifier.make("exp")
            try db.execute("INSERT INTO experiments(id, name, description, created_at) VALUES (?, ?, ?, ?)",
                           id, name, description, try db.now())
            try rememberIdempotency(db, scope: "experiments", key: idempotencyKey, requestHash: requestHash, resource: id)
            let r = try db.execute("SELECT \(Self.experimentColumns) FROM experiments WHERE id = ?", id)[0]
            return (Self.experiment(r), true)
        }
    }

    public func experiment(id: String) throws -> ExperimentRecord? {
        try pool.readStatement { db in
            try db.execute("SELECT \(Self.experimentColumns) FROM experiments WHERE id = ?", id).first.map(Self.experiment)
        }
    }

    public func listExperiments(after: Int?, limit: Int) throws -> Page<ExperimentRecord> {
        try pool.read { db in
            let rows = try db.execute("SELECT \(Self.experimentColumns) FROM experiments WHERE seq > ? ORDER BY seq LIMIT ?",
                                      after ?? 0, limit + 1)
            let items = rows.prefix(limit).map(Self.experiment)
            return Page(items: Array(items), nextAfter: rows.count > limit ? items.last?.seq : nil)
        }
    }
}
