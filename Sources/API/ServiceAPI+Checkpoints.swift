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
        let url = workers.files.url(relative: record.file)
        guard let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int else {
            throw APIError(410, "gone", "the checkpoint file is no longer on disk")
        }
        headers.set("Content-Type", "application/octet-stream")
        headers.set("Content-Disposition", "attachment; filename=\"\(runID)-step\(record.step).safetensors\"")
        var status = 200
        var range = 0..<size
        if let header = ctx.request.headers["Range"], ctx.request.headers["If-Range"].map({ $0 == etag }) ?? true {
            guard let (start, end) = Self.parseRange(header, size: size) else {
                var r = APIError(416, "range_not_satisfiable", "the Range header does not fit a file of \(size) bytes").response
                r.headers.set("Content-Range", "bytes */\(size)")
                r.headers.set("ETag", etag)
                return r
            }
            headers.set("Content-Range", "bytes \(start)-\(end)/\(size)")
            status = 206
            range = start..<(end + 1)
        }
        if ctx.request.method == "HEAD" {
            headers.set("Content-Length", String(range.count))
            return HTTPResponse(status: status, headers: headers)
        }
        // Only the requested bytes are read from disk.
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            throw APIError(410, "gone", "the checkpoint file is no longer on disk")
        }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(range.lowerBound))
        let data = try handle.read(upToCount: range.count) ?? Data()
        guard data.count == range.count else { throw APIError(500, "internal", "checkpoint file is shorter than recorded") }
        return HTTPResponse(status: status, headers: headers, body: data)
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
