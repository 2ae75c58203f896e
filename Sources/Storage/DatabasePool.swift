import Foundation

/// One writer connection (serialised) and a few reader connections, over one WAL database.
public final class DatabasePool: ConnectionPool, @unchecked Sendable {
    public var dialect: SQLDialect { .sqlite }
    public var location: String { path }
    private let writer: Database
    private let writerLock = NSLock()
    private var readers: [Database]
    private let readerCondition = NSCondition()
    public let path: String
    /// Called with the seconds each write transaction took (lock wait included), for metrics.
    public var onWrite: (@Sendable (Double) -> Void)?

    /// Opens the pool; run ``Migrator`` on it before use.
    public init(path: String, readers readerCount: Int = 4) throws {
        self.path = path
        writer = try Database(path: path)
        readers = []
        for _ in 0..<max(1, readerCount) {
            readers.append(try Database(path: path))
        }
    }

    /// Runs `body` on the writer connection inside a `BEGIN IMMEDIATE` transaction.
    @discardableResult
    public func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        writerLock.lock()
        defer {
            writerLock.unlock()
            onWrite?(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return try writer.transaction { try body(writer) }
    }

    /// Runs `body` on the writer connection outside any transaction (PRAGMAs, migrations).
    public func withWriter<T>(_ body: (Database) throws -> T) throws -> T {
        writerLock.lock()
        defer { writerLock.unlock() }
        return try body(writer)
    }

    /// Whether a write transaction can be taken now.
    public func probe() -> Bool {
        (try? write { db in try db.execute("SELECT 1 FROM experiments LIMIT 1") }) != nil
    }

    /// SQLite's read transactions cost no round trip: the same as ``read(_:)``.
    public func readStatement<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try read(body)
    }

    /// Runs `body` on a reader connection (a consistent snapshot for multi-statement reads).
    public func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        readerCondition.lock()
        while readers.isEmpty { readerCondition.wait() }
        let db = readers.removeLast()
        readerCondition.unlock()
        defer {
            readerCondition.lock()
            readers.append(db)
            readerCondition.signal()
            readerCondition.unlock()
        }
        try db.execute("BEGIN")
        defer { _ = try? db.execute("COMMIT") }
        return try body(db)
    }
}
