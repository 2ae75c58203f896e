import Foundation
import Support
import HTTP
import ObjectStore
import Storage
import Engine
import Serving
import Studies

/// An error answered as `{"error":{"code","message","details"}}` with its HTTP status.
public struct APIError: Error, Sendable {
    public var status: Int
    public var code: String
    public var message: String
    public var field: String?
    public var headers: [(String, String)] = []

    public init(_ status: Int, _ code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    public static func invalid(_ field: String, _ message: String) -> APIError {
        APIError(400, "invalid_argument", "\(field): \(message)", field: field)
    }

    public static func notFound(_ what: String) -> APIError {
        APIError(404, "not_found", "\(what) not found")
    }

    /// A 503 that tells the client when to come back (`Retry-After`, seconds).
    public static func unavailable(_ message: String, retryAfter seconds: Int) -> APIError {
        var e = APIError(503, "unavailable", message)
        e.headers = [("Retry-After", String(seconds))]
        return e
    }

    /// Maps errors of the lower layers to statuses; anything unknown is a 500 without internals.
    public static func from(_ error: Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as SpecError: return .invalid(e.field, e.message)
        case let e as StudyError: return .invalid(e.field, e.message)
        case let e as ServingError:
            switch e {
            case .notFound(let what): return .notFound(what)
            case .gone(let message): return APIError(410, "gone", message)
            case .noCheckpoint(let message): return APIError(409, "no_checkpoint", message)
            case .unsupported(let message): return APIError(422, "unsupported_model", message)
            case .badInput(let field, let message): return .invalid(field, message)
            case .conflict(let message): return APIError(409, "conflict", message)
            case .rateLimited(let seconds):
                var e = APIError(429, "rate_limited", "too many feedbacks for this model; retry shortly")
                e.headers = [("Retry-After", String(max(1, Int(seconds.rounded(.up)))))]
                return e
            }
        case StoreError.notFound(let what): return .notFound(what)
        case StoreError.idempotencyMismatch:
            return APIError(422, "idempotency_key_reused", "this Idempotency-Key was already used with a different request")
        case StoreError.conflict(let message):
            return APIError(409, "conflict", message)
        case StoreError.invalidState(let state):
            return APIError(409, "invalid_state", "the run is already \(state.rawValue)")
        case let e as DatasetError: return APIError(400, "invalid_dataset", e.description, field: "body")
        case let e as UploadError where e.code == ENOSPC: return APIError(507, "insufficient_storage", "no space left on the server's disk")
        case let e as DatabaseError where e.isDiskFull:
            return APIError(507, "insufficient_storage", "the database disk is full")
        case let e as DatabaseError where e.isBusy:
            return .unavailable("the database is busy; retry shortly", retryAfter: 1)
        case let e as PostgresError where e.isUnstorableText:
            return APIError(400, "invalid_argument", "text may not contain the NUL character (U+0000)")
        case let e as PostgresError where e.isUnavailable:
            return .unavailable("the database cannot be reached; retry shortly", retryAfter: 5)
        case BlobStoreError.unavailable:
            return .unavailable("the object store does not answer; retry shortly", retryAfter: 5)
        default:
            return APIError(500, "internal", "internal error")
        }
    }

    var response: HTTPResponse {
        var error: [String: JSONValue] = ["code": .string(code), "message": .string(message)]
        if let field { error["details"] = .object(["field": .string(field)]) }
        var r = JSONResponse.make(status, JSONValue.object(["error": .object(error)]))
        for (k, v) in headers { r.headers.set(k, v) }
        return r
    }
}

enum JSONResponse {
    static func make(_ status: Int, _ value: JSONValue) -> HTTPResponse {
        var h = HTTPHeaders()
        h.set("Content-Type", "application/json")
        return HTTPResponse(status: status, headers: h, body: value.serialized())
    }
}
