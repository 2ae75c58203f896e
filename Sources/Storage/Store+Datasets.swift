import Foundation

extension Store {
    private static let datasetColumns = "seq, id, name, format, sha256, bytes, description, created_at"

    private static func dataset(_ r: Row) -> DatasetRecord {
        DatasetRecord(seq: r.int(0), id: r.string(1), name: r.string(2), format: r.string(3), sha256: r.string(4),
                      bytes: r.int(5), description: r.string(6), createdAt: r.double(7))
    }

    /// Records a data set whose file is already in place (a row never points at a missing file).
    public func createDataset(id: String, name: String, format: String, sha256: String, bytes: Int,
                              description: String) throws -> DatasetRecord {
        try pool.write { db in
            try db.execute("""
                INSERT INTO datasets(id, name, format, sha256, bytes, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, id, name, format, sha256, bytes, description, try db.now())
            return Self.dataset(try db.execute("SELECT \(Self.datasetColumns) FROM datasets WHERE id = ?", id)[0])
        }
    }

    public func dataset(id: String) throws -> DatasetRecord? {
        try pool.readStatement { db in try db.execute("SELECT \(Self.datasetColumns) FROM datasets WHERE id = ?", id).first.map(Self.dataset) }
    }

    public func listDatasets(after: Int?, limit: Int) throws -> Page<DatasetRecord> {
        try pool.read { db in
            let rows = try db.execute("SELECT \(Self.datasetColumns) FROM datasets WHERE seq > ? ORDER BY seq LIMIT ?", after ?? 0, limit + 1)
            let items = rows.prefix(limit).map(Self.dataset)
            return Page(items: Array(items), nextAfter: rows.count > limit ? items.last?.seq : nil)
        }
    }

    /// Deletes a data set's row, unless a queued or running run uses it (`conflict`); returns the
    /// deleted record (its file is the caller's to remove).
    public func deleteDataset(id: String) throws -> DatasetRecord {
        try pool.write { db in
            // Locked first: a run being created with this data set (which keeps the row) commits
            // before the check below, or waits until the delete is done and then finds no data set.
            guard let record = try db.execute("SELECT \(Self.datasetColumns) FROM datasets WHERE id = ?" + db.lockForDelete, id)
                .first.map(Self.dataset) else {
                throw StoreError.notFound("data set \(id)")
            }
            let using = try db.execute("""
                SELECT id FROM runs WHERE dataset_id = ? AND state IN ('queued', 'running') ORDER BY seq LIMIT 3
                """, id).map { $0.string(0) }
            if !using.isEmpty {
                throw StoreError.conflict("data set \(id) is used by queued or running runs (\(using.joined(separator: ", "))\(using.count == 3 ? ", …" : "")); cancel them or wait")
            }
            try db.execute("DELETE FROM datasets WHERE id = ?", id)
            return record
        }
    }

    /// Bytes held by data sets and checkpoints (what the disk quota counts).
    public func storedBytes() throws -> Int {
        try pool.read { db in
            try db.execute("SELECT (SELECT COALESCE(SUM(bytes), 0) FROM datasets) + (SELECT COALESCE(SUM(size), 0) FROM checkpoints)")[0].int(0)
        }
    }

    /// Inside a write: a spec naming an uploaded data set (`data.dataset: "ds_…"`) that does not
    /// exist (deleted since it was checked) is refused, so no run points at a missing data set.
    func requireDataset(_ db: any SQLConnection, spec: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(spec.utf8)) as? [String: Any],
              let name = (object["data"] as? [String: Any])?["dataset"] as? String, name.hasPrefix("ds_") else { return }
        guard try db.execute("SELECT 1 FROM datasets WHERE id = ?" + db.keepRow, name).first != nil else {
            throw StoreError.notFound("data set \(name)")
        }
    }
}
