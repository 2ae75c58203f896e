import Foundation
import Hummingbird

// Usage: HummingbirdPeer PORT BODY_FILE — answers GET /v1/runs/{id} with the file's bytes.
let arguments = CommandLine.arguments
let port = Int(arguments[1]) ?? 8090
let body = try Data(contentsOf: URL(fileURLWithPath: arguments[2]))
let router = Router()
router.get("/v1/runs/{id}") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
