import Foundation
import HTTP
import Engine
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
        let data: Data
        do {
            data = try workers.files.read(relative: record.file)
        } catch {
            throw APIError(410, "gone", "the checkpoint file is no longer on disk")
        }
        headers.set("Content-Type", "application/octet-stream")
        headers.set("Content-Disposition", "attachment; filename=\"\(runID)-step\(record.step).safetensors\"")
        let size = data.count
        if let range = ctx.request.headers["Range"] {
            let ifRange = ctx.request.headers["If-Range"]
            if ifRange == nil || ifRange == etag {
                guard let (start, end) = Self.parseRange(range, size: size) else {
                    headers.set("Content-Range", "bytes */\(size)")
                    var r = APIError(416, "range_not_satisfiable", "the Range header does not fit a file of \(size) bytes").response
                    for (k, v) in headers where k != "Content-Type" { r.headers.set(k, v) }
                    return r
                }
                headers.set("Content-Range", "bytes \(start)-\(end)/\(size)")
                return HTTPResponse(status: 206, headers: headers, body: data.subdata(in: start..<(end + 1)))
            }
        }
        return HTTPResponse(status: 200, headers: headers, body: data)
    }

    /// One `bytes=` range (first-last, first-, -suffix); nil when unsatisfiable or malformed.
    static func parseRange(_ header: String, size: Int) -> (Int, Int)? {
        let h = header.trimmingCharacters(in: .whitespaces)
        guard h.hasPrefix("bytes="), size > 0 else { return nil }
        let spec = h.dropFirst(6)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let a = spec[..<dash].trimmingCharacters(in: .whitespaces), b = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if a.isEmpty {
            guard let n = Int(b), n > 0 else { return nil }
            return (max(0, size - n), size - 1)
        }
        guard let start = Int(a), start >= 0, start < size else { return nil }
        if b.isEmpty { return (start, size - 1) }
        guard let end = Int(b), end >= start else { return nil }
        return (start, min(end, size - 1))
    }
}
