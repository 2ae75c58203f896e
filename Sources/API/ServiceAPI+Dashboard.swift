import Foundation
import HTTP
import Dashboard

/// The browser dashboard: its page at `/` and its files under `/dashboard/`, open to anyone
/// (they hold no data: the scripts read the API with the visitor's token), revalidated by ETag.
extension ServiceAPI {
    func dashboardPage(_ ctx: RequestContext) -> HTTPResponse {
        Self.serve(DashboardAssets.page(authRequired: options.authenticator != nil), ctx)
    }

    func dashboardFile(_ ctx: RequestContext) throws -> HTTPResponse {
        let name = ctx.parameter("asset")
        guard let asset = DashboardAssets.asset(named: name) else {
            throw APIError.notFound("dashboard file \(name.prefix(100))")
        }
        return Self.serve(asset, ctx)
    }

    private static func serve(_ asset: DashboardAssets.Asset, _ ctx: RequestContext) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.set("ETag", asset.etag)
        headers.set("Cache-Control", "no-cache")
        headers.set("Content-Security-Policy", DashboardAssets.contentSecurityPolicy)
        headers.set("X-Content-Type-Options", "nosniff")
        headers.set("Referrer-Policy", "no-referrer")
        if let given = ctx.request.headers["If-None-Match"],
           given.split(separator: ",").contains(where: { let t = $0.trimmingCharacters(in: .whitespaces); return t == asset.etag || t == "*" }) {
            return HTTPResponse(status: 304, headers: headers)
        }
        headers.set("Content-Type", asset.contentType)
        return HTTPResponse(status: 200, headers: headers, body: Data(asset.bytes))
    }
}
