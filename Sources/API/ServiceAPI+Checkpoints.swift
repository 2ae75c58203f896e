import Foundation
import Support
import HTTP
import Engine
import ObjectStore
import Storage

extension ServiceAPI {
    func listCheckpoints(_ ctx: RequestContext) throws -> HTTPResponse {
        let run = try requireRun(ctx.parameter("run_id"))
        let items = try store.checkpoints(runID: run.id)
        return JSONResponse.make(200, JSONValue.object([
            "run_id": .string(run.id),
            "checkpoints": .array(items.map(Representation.checkpoint)),
        ]))
    }

    /// Serves a checkpoint file with ETag (its sha256), conditional GET and byte ranges.
    func downloadCheckpoint(_ ctx: RequestContext) throws -> HTTPResponse {
        let runID = ctx.parameter("run_id"), id = ctx.parameter("checkpoint_id")
        guard let record = try store.checkpoint(runID: runID, id: id) else {
            throw APIError.notFound("checkpoint \(id) of run \(runID)")
        }
        let etag = "\"\(record.sha256)\""
        var headers = HTTPHeaders()
        headers.set("ETag", etag)
        headers.set("Accept-Ranges", "bytes")
        headers.set("Cache-Control", "private, max-age=31536000, immutable")
        if let inm = ctx.request.headers["If-None-Match"],
           inm.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag || $0.trimmingCharacters(in: .whitespaces) == "*" }) {
            return HTTPResponse(status: 304, headers: headers)
        }
        // Checkpoints never change once recorded: the row's size is the object's.
        let size = record.size
        headers.set("Content-Type", "application/octet-stream")
        headers.set("Content-Disposition", "attachment; filename=\"\(runID)-step\(record.step).safetensors\"")
        var status = 200
        var range = 0..<size
        if let header = ctx.request.headers["Range"], ctx.request.headers["If-Range"].map({ $0 == etag }) ?? true {
            switch Self.parseRange(header, size: size) {
            case .ignored:
                break   // RFC 9110 §14.2: another unit, several ranges or bad syntax — send the whole file
            case .unsatisfiable:
                var r = APIError(416, "range_not_satisfiable", "the Range header does not fit a file of \(size) bytes").response
                r.headers.set("Content-Range", "bytes */\(size)")
                r.headers.set("ETag", etag)
                return r
            case .bytes(let start, let end):
                headers.set("Content-Range", "bytes \(start)-\(end)/\(size)")
                status = 206
                range = start..<(end + 1)
            }
        }
        if ctx.request.method == "HEAD" {
            headers.set("Content-Length", String(range.count))
            return HTTPResponse(status: status, headers: headers)
        }
        // Only the requested bytes are read, from the folder or the object store (a Range passed through).
        let data: Data
        do {
            data = range.isEmpty ? Data() : try files.read(relative: record.file, range: range.lowerBound...(range.upperBound - 1))
        } catch BlobStoreError.notFound {
            throw APIError(410, "gone", "the checkpoint file is no longer in the store")
        } catch BlobStoreError.unavailable(let reason) {
            throw APIError.unavailable("the object store does not answer: \(reason)", retryAfter: 5)
        }
        guard data.count == range.count else { throw APIError(500, "internal", "checkpoint file is shorter than recorded") }
        return HTTPResponse(status: status, headers: headers, body: data)
    }

    /// What a Range header asks of a file of `size` bytes.
    enum RangeRequest: Equatable {
        /// Not one well-formed `bytes=` range: answered with the whole file (RFC 9110 §14.2).
        case ignored
        /// A well-formed range outside the file (416).
        case unsatisfiable
        case bytes(Int, Int)
    }

    /// One `bytes=` range (first-last, first-, -suffix).
    static func parseRange(_ header: String, size: Int) -> RangeRequest {
        let h = header.trimmingCharacters(in: .whitespaces)
        guard h.lowercased().hasPrefix("bytes=") else { return .ignored }
        let spec = h.dropFirst(6)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .ignored }
        let a = spec[..<dash].trimmingCharacters(in: .whitespaces), b = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        let digits: (String) -> Bool = { !$0.isEmpty && $0.utf8.count <= 18 && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
        if a.isEmpty {
            guard digits(b), let n = Int(b) else { return .ignored }
            return n > 0 && size > 0 ? .bytes(max(0, size - n), size - 1) : .unsatisfiable
        }
        guard digits(a), let start = Int(a), b.isEmpty || digits(b) else { return .ignored }
        if !b.isEmpty, let end = Int(b), end < start { return .ignored }
        guard start < size else { return .unsatisfiable }
        return .bytes(start, b.isEmpty ? size - 1 : min(Int(b)!, size - 1))
    }
}
