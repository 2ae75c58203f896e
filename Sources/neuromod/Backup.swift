import ArgumentParser
import Foundation
import Storage

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the database consistently while the service runs (SQLite online backup).",
        discussion: "Checkpoint files are written once and never changed: copy DATA_DIR/checkpoints with any file tool.")
    @Argument(help: "The backup file to create (replaced if it exists).") var destination: String
    @OptionGroup var storage: StorageOptions

    func run() throws {
        if try storage.postgresURL() != nil {
            throw ConfigurationError("backup copies the embedded SQLite database; back up PostgreSQL with pg_dump (or its own tools)")
        }
        let source = URL(fileURLWithPath: storage.resolvedDataDir).appendingPathComponent("neuromod.sqlite").path
        guard FileManager.default.fileExists(atPath: source) else { throw ConfigurationError("no database at \(source)") }
        let started = Date()
        let db = try Database(path: source, readOnly: true)
        try db.backup(to: destination)
        let check = try Database(path: destination, readOnly: true).execute("PRAGMA integrity_check").first?.string(0) ?? "?"
        guard check == "ok" else { throw ConfigurationError("the backup failed its integrity check: \(check)") }
        let size = (try? FileManager.default.attributesOfItem(atPath: destination)[.size] as? Int) ?? 0
        print("backed up \(source) to \(destination) (\(size) bytes, integrity ok) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
    }
}
