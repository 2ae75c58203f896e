import Foundation
import XCTest
@testable import API
import Dashboard
import Support

/// The dashboard's files as the API serves them (the pages themselves are tested in Chromium by
/// `Tests/browser/dashboard_chromium.py`), and the API additions it reads: newest-first run
/// lists, every study in one list, and the event cursor of metric listings and study reports.
final class DashboardTests: XCTestCase {
    func testThePageAndItsFilesAreServedWithValidatorsAndAStrictPolicy() throws {
        let service = try ServiceHarness(workers: 1)
        defer { service.stop() }
        let c = try service.client()
        let page = try c.request("GET", "/")
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.header("Content-Type"), "text/html; charset=utf-8")
        XCTAssertTrue(page.text.contains(#"<meta name="neuromod-auth" content="none">"#), "an open server: no token form")
        XCTAssertEqual(page.header("Content-Security-Policy"), DashboardAssets.contentSecurityPolicy)
        XCTAssertTrue(page.header("Content-Security-Policy")?.contains("script-src 'self';") ?? false, "no inline or foreign script")
        XCTAssertEqual(page.header("X-Content-Type-Options"), "nosniff")
        // Every file the page names is served, with its type; nothing is fetched from elsewhere.
        let names = page.text.matches(of: /(?:src|href)="\/dashboard\/([a-z.]+)"/).map { String($0.1) }
        XCTAssertEqual(Set(names), Set(DashboardAssets.names), "the page names exactly the embedded files")
        XCTAssertFalse(page.text.contains("http://") || page.text.contains("https://"), "no external resource")
        for name in DashboardAssets.names {
            let r = try c.request("GET", "/dashboard/\(name)")
            XCTAssertEqual(r.status, 200, name)
            XCTAssertEqual(r.header("Content-Type"), DashboardAssets.asset(named: name)?.contentType, name)
            XCTAssertFalse(r.body.isEmpty, name)
            XCTAssertFalse(r.text.contains("https://") && name.hasSuffix(".js"), "\(name) fetches nothing from elsewhere")
            // Revalidation: the same ETag answers 304 with no body; another one gets the file.
            let etag = try XCTUnwrap(r.header("ETag"), name)
            let again = try c.request("GET", "/dashboard/\(name)", headers: [("If-None-Match", "\"other\", \(etag)")])
            XCTAssertEqual(again.status, 304, name)
            XCTAssertTrue(again.body.isEmpty)
            XCTAssertEqual(try c.request("GET", "/dashboard/\(name)", headers: [("If-None-Match", "\"other\"")]).status, 200)
            XCTAssertEqual(try c.request("HEAD", "/dashboard/\(name)").status, 200)
        }
        let missing = try c.request("GET", "/dashboard/secrets.js")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing["error", "code"]?.string, "not_found")
        XCTAssertEqual(try c.request("GET", "/dashboard/..%2FPackage.swift").status, 404, "names only, no paths")
        XCTAssertEqual(try c.request("POST", "/").status, 405)
    }

    func testWithTokensThePageIsOpenButAsksForOneAndTheDataStayClosed() throws {
        let auth = try Authenticator.parse("read \(AuthenticationTests.readToken)")
        let service = try ServiceHarness(workers: 1, options: { $0.authenticator = auth })
        defer { service.stop() }
        let c = try service.client()
        XCTAssertEqual(service.api.access(method: "GET", path: "/"), .open)
        XCTAssertEqual(service.api.access(method: "GET", path: "/dashboard/core.js"), .open)
        let page = try c.request("GET", "/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.text.contains(#"<meta name="neuromod-auth" content="required">"#))
        XCTAssertEqual(try c.request("GET", "/dashboard/runs.js").status, 200)
        XCTAssertEqual(try c.request("GET", "/v1/runs").status, 401, "what the page shows still needs a token")
        XCTAssertEqual(try c.request("GET", "/v1/studies").status, 401)
        XCTAssertEqual(try c.request("GET", "/dashboard/nope.js").status, 404, "an open route: its 404 reveals no data")
    }

    func testRunListsNewestFirstAndEveryStudyInOneList() throws {
        let service = try ServiceHarness(workers: 0)
        defer { service.stop() }
        let c = try service.client()
        let exp = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "order"}"#)["id"]?.string)
        var runs: [String] = []
        for seed in 1...5 {
            let r = try c.json("POST", "/v1/experiments/\(exp)/runs", Specs.mlp(seed: seed))
            runs.append(try XCTUnwrap(r["id"]?.string))
        }
        func page(_ path: String) throws -> (ids: [String], next: String?) {
            let r = try c.json("GET", path)
            XCTAssertEqual(r.status, 200, r.text)
            return ((r["runs"]?.array ?? []).compactMap { $0["id"]?.string }, r["next_page_token"]?.string)
        }
        XCTAssertEqual(try page("/v1/runs").ids, runs)
        XCTAssertEqual(try page("/v1/runs?order=asc").ids, runs)
        // Newest first, paged: each page continues below the last one, nothing repeated or lost.
        let first = try page("/v1/runs?order=desc&limit=2")
        XCTAssertEqual(first.ids, [runs[4], runs[3]])
        let second = try page("/v1/runs?order=desc&limit=2&page_token=\(try XCTUnwrap(first.next))")
        XCTAssertEqual(second.ids, [runs[2], runs[1]])
        let third = try page("/v1/runs?order=desc&limit=2&page_token=\(try XCTUnwrap(second.next))")
        XCTAssertEqual(third.ids, [runs[0]])
        XCTAssertNil(third.next)
        XCTAssertEqual(try page("/v1/experiments/\(exp)/runs?order=desc&state=queued").ids, runs.reversed())
        let bad = try c.json("GET", "/v1/runs?order=newest")
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(bad["error", "details", "field"]?.string ?? bad["error", "field"]?.string, "order")

        let other = try XCTUnwrap(try c.json("POST", "/v1/experiments", #"{"name": "other"}"#)["id"]?.string)
        let design = #"{"base": {"protocol": {"kind": "bandit", "trials": 50}}, "seeds": 1}"#
        let s1 = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(exp)/studies", design)["id"]?.string)
        let s2 = try XCTUnwrap(try c.json("POST", "/v1/experiments/\(other)/studies", design)["id"]?.string)
        let all = try c.json("GET", "/v1/studies")
        XCTAssertEqual(all.status, 200)
        XCTAssertEqual((all["studies"]?.array ?? []).compactMap { $0["id"]?.string }, [s1, s2])
        let paged = try c.json("GET", "/v1/studies?limit=1")
        XCTAssertEqual((paged["studies"]?.array ?? []).compactMap { $0["id"]?.string }, [s1])
        let rest = try c.json("GET", "/v1/studies?limit=1&page_token=\(try XCTUnwrap(paged["next_page_token"]?.string))")
        XCTAssertEqual((rest["studies"]?.array ?? []).compactMap { $0["id"]?.string }, [s2])
        XCTAssertEqual((try c.json("GET", "/v1/experiments/\(other)/studies")["studies"]?.array ?? []).count, 1)
        let report = try c.json("GET", "/v1/studies/\(s1)")
        XCTAssertNotNil(report["last_event_id"]?.number, "a study report carries the event cursor it was read at")
    }
}
