import Foundation
import XCTest
import TestSupport
@testable import Telemetry

final class MetricsRegistryTests: XCTestCase {
    func testCountersHistogramsAndGaugesInTheTextFormat() {
        let m = MetricsRegistry()
        m.counter("demo_requests_total", help: "Requests.")
        m.histogram("demo_seconds", help: "Latency.", buckets: [0.1, 1])
        m.gauge("demo_open", help: "Open things.") { [(["kind": "a"], 3), (["kind": "b"], 0.5)] }
        m.increment("demo_requests_total", ["route": "/v1/runs/{run_id}", "status": "200"])
        m.increment("demo_requests_total", ["route": "/v1/runs/{run_id}", "status": "200"], by: 2)
        m.increment("demo_requests_total", ["status": "200", "route": "/v1/runs"])
        m.increment("demo_requests_total", ["route": "x"], by: -1)   // counters never go down
        m.observe("demo_seconds", ["route": "r"], 0.05)
        m.observe("demo_seconds", ["route": "r"], 0.5)
        m.observe("demo_seconds", ["route": "r"], 5)
        XCTAssertEqual(m.value("demo_requests_total", ["status": "200", "route": "/v1/runs/{run_id}"]), 3)
        XCTAssertEqual(m.render(), """
        # HELP demo_requests_total Requests.
        # TYPE demo_requests_total counter
        demo_requests_total{route="/v1/runs",status="200"} 1
        demo_requests_total{route="/v1/runs/{run_id}",status="200"} 3
        # HELP demo_seconds Latency.
        # TYPE demo_seconds histogram
        demo_seconds_bucket{route="r",le="0.1"} 1
        demo_seconds_bucket{route="r",le="1"} 2
        demo_seconds_bucket{route="r",le="+Inf"} 3
        demo_seconds_sum{route="r"} 5.55
        demo_seconds_count{route="r"} 3
        # HELP demo_open Open things.
        # TYPE demo_open gauge
        demo_open{kind="a"} 3
        demo_open{kind="b"} 0.5

        """)
    }

    func testLabelValuesAndHelpAreEscaped() {
        let m = MetricsRegistry()
        m.counter("demo_total", help: "A \\ help\nline.")
        m.increment("demo_total", ["model": "we\"ird\\name\nx"])
        XCTAssertEqual(m.render(), "# HELP demo_total A \\\\ help\\nline.\n# TYPE demo_total counter\ndemo_total{model=\"we\\\"ird\\\\name\\nx\"} 1\n")
        XCTAssertFalse(MetricsRegistry.isValidName("1abc"))
        XCTAssertFalse(MetricsRegistry.isValidName("a-b"))
        XCTAssertTrue(MetricsRegistry.isValidName("neuromod_http_requests_total"))
    }

    /// The page passes Prometheus's own linter (`promtool check metrics`, Debian `prometheus`).
    func testPromtoolAcceptsThePage() throws {
        let m = MetricsRegistry()
        m.counter("demo_requests_total", help: "Requests.")
        m.histogram("demo_request_duration_seconds", help: "Latency.")
        m.gauge("demo_open_connections", help: "Open connections.") { [([:], 7)] }
        m.increment("demo_requests_total", ["route": "/v1/runs", "status": "200"])
        m.observe("demo_request_duration_seconds", ["route": "/v1/runs"], 0.003)
        let (status, output) = try TestSupport.promtool(m.render())
        XCTAssertEqual(status, 0, output)
    }

}
