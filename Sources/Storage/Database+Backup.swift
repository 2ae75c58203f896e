import CSQLite
import Foundation

extension Database {
    /// Copies this database into a new file at `destination` with SQLite's online backup API:
    /// one consistent snapshot, taken while other connections keep reading and writing (WAL).
    /// The copy is written to `destination.partial`, synced, and renamed into place, so a
    /// crash never leaves a half-written backup under the final name.
    public func backup(to destination: String) throws {
        let partial = destination + ".partial"
        unlink(partial)
        var target: OpaquePointer?
        guard sqlite3_open_v2(partial, &target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK, let target else {
            let message = target.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(target)
            throw DatabaseError(code: SQLITE_CANTOPEN, message: "\(message) (\(partial))")
        }
        defer { sqlite3_close_v2(target) }
        guard let backup = sqlite3_backup_init(target, "main", handle, "main") else {
            throw DatabaseError(code: sqlite3_errcode(target), message: String(cString: sqlite3_errmsg(target)))
        }
        var rc: Int32
        repeat {
            rc = sqlite3_backup_step(backup, -1)   // all pages in one step: one read transaction, one snapshot
            if rc == SQLITE_BUSY || rc == SQLITE_LOCKED { sqlite3_sleep(20) }
        } while rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED
        let finish = sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE, finish == SQLITE_OK else {
            unlink(partial)
            throw DatabaseError(code: rc == SQLITE_DONE ? finish : rc, message: "backup failed: \(String(cString: sqlite3_errstr(rc == SQLITE_DONE ? finish : rc)))")
        }
        // The copy is a plain rollback-journal database file, complete on its own.
        guard sqlite3_exec(target, "PRAGMA journal_mode=DELETE", nil, nil, nil) == SQLITE_OK else {
            throw DatabaseError(code: sqlite3_errcode(target), message: String(cString: sqlite3_errmsg(target)))
        }
        let fd = open(partial, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        guard rename(partial, destination) == 0 else {
            throw DatabaseError(code: SQLITE_IOERR, message: "cannot rename the backup into place: \(String(cString: strerror(errno)))")
        }
    }
}
