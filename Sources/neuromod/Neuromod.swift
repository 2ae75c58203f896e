import ArgumentParser
import Foundation

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

    var resolvedDataDir: String { Setting.string(dataDir, "NEUROMOD_DATA_DIR", "./data") }
}
