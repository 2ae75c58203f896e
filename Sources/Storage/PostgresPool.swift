import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A pool of PostgreSQL connections for the store, shared by every node of a deployment.
///
/// - Writes run in `READ COMMITTED` transactions; row locks (`FOR UPDATE SKIP LOCKED`,
///   `FOR SHARE`) and unique constraints arbitrate between nodes. A transaction that lost a
///   race (unique violation, serialization failure, deadlock) is run again, a few times: the
///   store's writes read before they write, so the rerun sees the winner's row and answers
///   accordingly (the same run for the same idempotency key, the next model version).
/// - Reads run in `REPEATABLE READ READ ONLY` transactions: one snapshot, like SQLite's readers.
/// - A lost connection (the server restarted) is re-established with backoff for up to
///   ``reconnectSeconds``; the transaction is run again unless the loss came during `COMMIT`,
///   whose outcome is then unknown and reported.
public final class PostgresPool: ConnectionPool, @unchecked Sendable {
    public var dialect: SQLDialect { .postgres }
    public let location: String
    private let url: String
    private let capacity: Int
    private var idle: [PostgresConnection] = []
    private var open = 0
    private let condition = NSCondition()
    /// How long a transaction waits for the server to come back before failing.
    public var reconnectSeconds: Double = 30
    public var onWrite: (@Sendable (Double) -> Void)?

    /// Connects once (so a wrong URL fails at start-up) and keeps up to `connections` open.
    public init(url: String, connections: Int = 8) throws {
        self.url = url
        capacity = max(1, connections)
        location = Self.redacted(url)
        idle.append(try Self.connect(url))
        open = 1
    }

    /// A session that cannot hold locks for long: a node paused or cut off in the middle of a
    /// transaction (SIGSTOP, a partition) has its session ended after 5 s, so its row locks and
    /// the event-order lock do not stall the other nodes — our transactions take milliseconds.
    static func connect(_ url: String) throws -> PostgresConnection {
        let c = try PostgresConnection(url: url)
        try prepare(c)
        return c
    }

    static func prepare(_ c: PostgresConnection) throws {
        try c.execute("SET idle_in_transaction_session_timeout = 5000")
    }

    /// The URL with its password masked, however it is written: `postgres://user:secret@host/db`
    /// (an unescaped `@` in the password included), `?password=secret`, or libpq's
    /// `password=secret` keywords.
    static func redacted(_ url: String) -> String {
        var out = url
        if let scheme = out.range(of: "://") {
            let rest = out[scheme.upperBound...]
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@"),
               let colon = rest[..<at].firstIndex(of: ":") {
                out.replaceSubrange(out.index(after: colon)..<at, with: "***")
            }
        }
        // password=… as a query parameter or a keyword (up to & or whitespace).
        var result = ""
        var remaining = Substring(out)
        while let r = remaining.range(of: "password=", options: .caseInsensitive) {
            result += remaining[..<r.upperBound] + "***"
            remaining = remaining[r.upperBound...].drop { $0 != "&" && !$0.isWhitespace }
        }
        return result + remaining
    }

    public func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { onWrite?(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        return try transaction(begin: "BEGIN", body)
    }

    public func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    public func readStatement<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try withConnection { c in try body(c) }
    }

    /// Whether a write could be made now: one `SELECT` on a pooled (or new) connection, without
    /// the reconnection retries (readiness must answer at once).
    public func probe() -> Bool {
        guard let c = try? checkout() else { return false }
        let ok = (try? c.execute("SELECT 1 FROM experiments LIMIT 1")) != nil
        checkin(c, lost: !c.isConnected)
        return ok
    }

    /// Runs `body` on one connection outside any transaction (migrations, LISTEN).
    public func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try onConnection(body)
    }

    /// Runs `attempt` on a pooled connection. A connection that is lost, or cannot be opened, is
    /// replaced and `attempt` run again, with backoff, for up to ``reconnectSeconds`` — except
    /// after a loss during COMMIT (08007), whose outcome is unknown.
    private func onConnection<T>(_ attempt: (PostgresConnection) throws -> T) throws -> T {
        let deadline = Date().addingTimeInterval(reconnectSeconds)
        var delay = 0.05
        while true {
            do {
                let c = try checkout()
                do {
                    let value = try attempt(c)
                    checkin(c)
                    return value
                } catch {
                    checkin(c, lost: (error as? PostgresError)?.isConnectionFailure ?? false)
                    throw error
                }
            } catch let e as PostgresError where e.isConnectionFailure && !e.isCommitOutcomeUnknown && Date() < deadline {
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 1)
            }
        }
    }

    /// `begin`, `body`, `COMMIT` on one connection (rerun on a new one after a lost connection);
    /// the whole transaction is run again, a few times, after losing a race to another one.
    private func transaction<T>(begin: String, _ body: (any SQLConnection) throws -> T) throws -> T {
        var raceReruns = 0
        while true {
            do {
                return try onConnection { c in
                    try c.execute(begin)
                    let value: T
                    do { value = try body(c) } catch {
                        _ = try? c.execute("ROLLBACK")
                        throw error
                    }
                    do { try c.execute("COMMIT") } catch let e as PostgresError where e.isConnectionFailure {
                        throw PostgresError(sqlState: "08007", message: "the connection was lost during COMMIT; the transaction may or may not have been committed")
                    }
                    return value
                }
            } catch let e as PostgresError where (e.isUniqueViolation || e.isTransient) && raceReruns < 5 {
                raceReruns += 1
                Thread.sleep(forTimeInterval: Double.random(in: 0...0.002) * Double(raceReruns))
            }
        }
    }

    private func checkout() throws -> PostgresConnection {
        condition.lock()
        while idle.isEmpty && open >= capacity { condition.wait() }
        if let c = idle.popLast() {
            condition.unlock()
            if !c.isConnected {
                do { try c.reset(); try Self.prepare(c) } catch {
                    checkin(c, lost: true)
                    throw error
                }
            }
            return c
        }
        open += 1
        condition.unlock()
        do { return try Self.connect(url) } catch {
            condition.lock(); open -= 1; condition.signal(); condition.unlock()
            throw error
        }
    }

    /// A connection whose server went away is closed rather than kept.
    private func checkin(_ c: PostgresConnection, lost: Bool = false) {
        condition.lock()
        if lost { open -= 1 } else { idle.append(c) }
        condition.signal()
        condition.unlock()
    }

    /// Listens on `channel` on a connection of its own (a thread) and calls `handler` for every
    /// notification, and once after each reconnection (notifications sent meanwhile are lost).
    /// Returns a function that stops listening.
    public func listen(channel: String, handler: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let stop = ListenerFlag()
        let url = self.url
        let thread = Thread {
            var delay = 0.1
            while !stop.isSet {
                do {
                    let c = try PostgresConnection(url: url)
                    try c.execute("LISTEN \(channel)")
                    handler()
                    delay = 0.1
                    while !stop.isSet {
                        var fds = pollfd(fd: c.socket, events: Int16(POLLIN), revents: 0)
                        let ready = poll(&fds, 1, 500)
                        if ready < 0 && errno != EINTR { throw PostgresError(sqlState: "08006", message: "poll failed") }
                        if ready > 0 {
                            if try !c.takeNotifications().isEmpty { handler() }
                        }
                    }
                } catch {
                    Thread.sleep(forTimeInterval: delay)
                    delay = min(delay * 2, 2)
                }
            }
        }
        thread.name = "pg-listen"
        thread.start()
        return { stop.set() }
    }
}

private final class ListenerFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
