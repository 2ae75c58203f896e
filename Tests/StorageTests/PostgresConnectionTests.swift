import Foundation
import XCTest
@testable import Storage
import TestSupport

/// The libpq wrapper against a real PostgreSQL 15 on loopback: parameters and types both ways,
/// placeholders, transactions, SQLSTATEs, and reconnecting after a server restart.
final class PostgresConnectionTests: XCTestCase {
    func testValuesTransactionsErrorsAndReconnection() throws {
        let server = try PostgresServer()
        let db = try PostgresConnection(url: server.url)
        try db.executeScript("""
            CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, score DOUBLE PRECISION, ok BOOLEAN, payload BYTEA, note TEXT);
            """)
        let bytes = Data([0, 1, 2, 0xfe, 0xff])
        try db.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", 1, "naïve 'quoted' ?", 0.125, true, bytes, Optional<String>.none)
        try db.execute("INSERT INTO t(id, name, score, ok) VALUES (?, ?, ?, ?)", Int64(1) << 40, "big", -1e300, false)
        let rows = try db.execute("SELECT id, name, score, ok, payload, note FROM t WHERE id = ? OR name = ? ORDER BY id", 1, "big")
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0].values, [.integer(1), .text("naïve 'quoted' ?"), .real(0.125), .integer(1), .blob(bytes), .null])
        XCTAssertEqual(rows[1].values, [.integer(1 << 40), .text("big"), .real(-1e300), .integer(0), .null, .null])
        XCTAssertEqual(try db.execute("SELECT COUNT(*) FROM t WHERE name LIKE '%?%'")[0].int(0), 1, "a ? inside a literal is not a placeholder")
        XCTAssertEqual(PostgresConnection.numberPlaceholders("a = ? AND b = '?' AND c = ?"), "a = $1 AND b = '?' AND c = $2")
        XCTAssertThrowsError(try db.execute("INSERT INTO t(id, name) VALUES (?, ?)", 3, "cut\u{0}short")) {
            XCTAssertTrue(($0 as? PostgresError)?.isUnstorableText ?? false, "refused, not truncated: \($0)")
        }
        // A unique violation names itself; a failed transaction leaves nothing.
        XCTAssertThrowsError(try db.execute("INSERT INTO t(id) VALUES (?)", 1)) {
            XCTAssertTrue(($0 as? PostgresError)?.isUniqueViolation ?? false, "\($0)")
        }
        XCTAssertThrowsError(try db.transaction {
            try db.execute("INSERT INTO t(id, name) VALUES (?, ?)", 7, "seven")
            try db.execute("INSERT INTO t(id) VALUES (?)", 7)
        })
        XCTAssertEqual(try db.execute("SELECT COUNT(*) FROM t WHERE id = 7")[0].int(0), 0)
        XCTAssertEqual(try db.transaction { try db.execute("INSERT INTO t(id) VALUES (8) RETURNING id")[0].int(0) }, 8)
        // The server restarts: the connection is lost, a reset brings it back with the data.
        try server.stop()
        XCTAssertThrowsError(try db.execute("SELECT 1")) { XCTAssertTrue(($0 as? PostgresError)?.isConnectionFailure ?? false, "\($0)") }
        try server.start()
        try db.reset()
        XCTAssertTrue(db.isConnected)
        XCTAssertEqual(try db.execute("SELECT COUNT(*) FROM t")[0].int(0), 3)
        XCTAssertThrowsError(try PostgresConnection(url: "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2"))
    }
}

final class PostgresURLTests: XCTestCase {
    /// A password never reaches a log line, however the URL writes it.
    func testPasswordsAreMasked() {
        XCTAssertEqual(PostgresPool.redacted("postgres://nm:secret@db:5432/lab"), "postgres://nm:***@db:5432/lab")
        XCTAssertEqual(PostgresPool.redacted("postgres://nm:se@cr#et@db/lab?sslmode=require"), "postgres://nm:***@db/lab?sslmode=require")
        XCTAssertEqual(PostgresPool.redacted("postgresql://db/lab?user=nm&password=secret&sslmode=require"),
                       "postgresql://db/lab?user=nm&password=***&sslmode=require")
        XCTAssertEqual(PostgresPool.redacted("host=db user=nm password=secret dbname=lab"), "host=db user=nm password=*** dbname=lab")
        XCTAssertEqual(PostgresPool.redacted("postgres://nm@db/lab"), "postgres://nm@db/lab")
    }
}
