import ArgumentParser
import Foundation
import Storage

@main
struct Neuromod: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "neuromod",
        abstract: "Trains and serves neuromodulated neural networks over HTTP.",
        subcommands: [Serve.self, Migrate.self, Backup.self, Healthcheck.self, Bench.self, Experiment.self, Study.self, StudyStats.self,
                      Submit.self, Runs.self, Show.self, Metrics.self, Pull.self, Cancel.self],
        defaultSubcommand: nil)
}

/// Options shared by commands that open the data folder.
struct StorageOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Data folder: SQLite database and checkpoints (env NEUROMOD_DATA_DIR, default ./data).")
    var dataDir: String?
    @Option(name: .customLong("database"), help: "postgres://user:password@host:port/database to share runs, metrics and the queue between nodes (env NEUROMOD_DATABASE_URL; default: SQLite in the data folder).")
    var database: String?

    var resolvedDataDir: String { Setting.string(dataDir, "NEUROMOD_DATA_DIR", "./data") }

    /// The PostgreSQL URL, when one is configured (nil: SQLite in the data folder).
    func postgresURL() throws -> String? {
        guard let url = Setting.optionalString(database, "NEUROMOD_DATABASE_URL"), !url.isEmpty else { return nil }
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw ConfigurationError("--database must be a postgres:// or postgresql:// URL")
        }
        return url
    }

    /// Opens the configured store and brings its schema up to date.
    func openStore(migrations root: URL, dataDir: URL) throws -> Store {
        if let url = try postgresURL() {
            do {
                return try Store(postgresURL: url, migrations: try Migrator(root: root, dialect: .postgres))
            } catch let error as PostgresError {
                throw ConfigurationError("cannot use the PostgreSQL database: \(error)")
            }
        }
        return try Store(path: dataDir.appendingPathComponent("neuromod.sqlite").path, migrations: try Migrator(root: root, dialect: .sqlite))
    }
}
