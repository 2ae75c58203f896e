import Foundation

extension Store {
    static func insertMetrics(_ db: any SQLConnection, runID: String, _ points: [MetricPoint]) throws {
        switch db.dialect {
        case .sqlite:
            // Prepared once and cached: one step per point is SQLite's fast path.
            for p in points {
                try db.execute("INSERT OR REPLACE INTO metric_points(run_id, key, step, value, time) VALUES (?, ?, ?, ?, ?)",
                               runID, p.key, p.step, p.value, p.time)
            }
        case .postgres:
            // One round trip per 200 points; the event trigger fires on insert and on update. A
            // (key, step) given twice keeps its last value, as SQLite's INSERT OR REPLACE does (one
            // statement may not touch a row twice).
            var last: [PointKey: Int] = [:]
            for (i, p) in points.enumerated() { last[PointKey(key: p.key, step: p.step)] = i }
            let points = last.count == points.count ? points
                : points.indices.filter { last[PointKey(key: points[$0].key, step: points[$0].step)] == $0 }.map { points[$0] }
            var start = 0
            while start < points.count {
                let chunk = points[start..<min(start + 200, points.count)]
                var args: [any SQLBindable] = []
                args.reserveCapacity(chunk.count * 5)
                for p in chunk { args += [runID, p.key, p.step, p.value, p.time] as [any SQLBindable] }
                let rows = Array(repeating: "(?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", ")
                try db.execute("""
                    INSERT INTO metric_points(run_id, key, step, value, time) VALUES \(rows)
                    ON CONFLICT (run_id, key, step) DO UPDATE SET value = excluded.value, time = excluded.time
                    """, arguments: args)
                start += chunk.count
            }
        }
    }

    /// A point's identity in its run's series.
    private struct PointKey: Hashable {
        let key: String
        let step: Int
    }

    /// Writes a batch of metric points in one transaction. A point with the same (key, step)
    /// replaces the old one, so a resumed run never duplicates a point.
    public func appendMetrics(runID: String, _ points: [MetricPoint], lease: Lease? = nil) throws {
        guard !points.isEmpty else { return }
        try pool.write { db in
            if let lease { try Self.requireLease(db, lease) }
            try Self.insertMetrics(db, runID: runID, points)
        }
    }

    /// Deletes the points recorded after `step` (work lost when a run resumes from a checkpoint).
    public func deleteMetrics(runID: String, afterStep step: Int, lease: Lease? = nil) throws {
        try pool.write { db in
            if let lease { try Self.requireLease(db, lease) }
            try db.execute("DELETE FROM metric_points WHERE run_id = ? AND step > ?", runID, step)
        }
    }

    /// Inside a write: the lease is still this worker's, for this attempt, and the run running.
    static func requireLease(_ db: any SQLConnection, _ lease: Lease) throws {
        guard try db.execute("SELECT 1 FROM runs WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempt = ?" + db.lockRow,
                             lease.runID, lease.owner, lease.attempt).first != nil else {
            throw StoreError.fenced("run \(lease.runID): attempt \(lease.attempt) of \(lease.owner) no longer holds its lease")
        }
    }

    /// Every key of a run with its count and latest value.
    public func metricKeys(runID: String) throws -> [MetricKeySummary] {
        try pool.readStatement { db in
            try db.execute("""
                SELECT m.key, COUNT(*), MAX(m.step),
                       (SELECT value FROM metric_points l WHERE l.run_id = m.run_id AND l.key = m.key ORDER BY step DESC LIMIT 1)
                FROM metric_points m WHERE m.run_id = ? GROUP BY m.run_id, m.key ORDER BY m.key
                """, runID).map { MetricKeySummary(key: $0.string(0), count: $0.int(1), lastStep: $0.int(2), lastValue: $0.double(3)) }
        }
    }

    /// One series in step order, from after `afterStep`, at most `limit` points (+1 tells if more follow).
    public func metricSeries(runID: String, key: String, afterStep: Int?, limit: Int) throws -> (points: [MetricPoint], more: Bool) {
        try pool.readStatement { db in
            let rows = try db.execute("""
                SELECT step, value, time FROM metric_points WHERE run_id = ? AND key = ? AND step > ? ORDER BY step LIMIT ?
                """, runID, key, afterStep ?? Int(Int64.min), limit + 1)
            let points = rows.prefix(limit).map { MetricPoint(key: key, step: $0.int(0), value: $0.double(1), time: $0.double(2)) }
            return (Array(points), rows.count > limit)
        }
    }
}
