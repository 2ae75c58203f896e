import Foundation
import RESTClient

/// Multipart uploads: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
/// AbortMultipartUpload, ListMultipartUploads, and `putFile`, which uses them for large files.
extension S3Client {
    /// A part that was uploaded: its number (1…10 000) and the ETag the server gave it.
    public struct CompletedPart: Sendable, Equatable {
        public let partNumber: Int
        public let etag: String
        public init(partNumber: Int, etag: String) {
            self.partNumber = partNumber
            self.etag = etag
        }
    }

    /// An upload begun and neither completed nor aborted.
    public struct PendingUpload: Sendable, Equatable {
        public let key: String
        public let uploadID: String
    }

    /// S3's smallest part (all but the last part of an upload must be at least this big).
    public static let minimumPartSize = 5 << 20
    /// S3's most parts in one upload.
    public static let maximumPartCount = 10_000

    /// Begins a multipart upload (`POST /bucket/key?uploads`) and returns its upload id.
    public func createMultipartUpload(_ key: String) throws -> String {
        let r = try request("POST", key: key, query: [("uploads", "")])
        guard r.status == 200, let id = XMLText.value("UploadId", in: String(decoding: r.body, as: UTF8.self)), !id.isEmpty else {
            throw r.status == 200 ? S3Error(status: 200, code: "MalformedAnswer", message: "no UploadId in the answer") : Self.error(r)
        }
        return id
    }

    /// Uploads part `partNumber` (from 1) of an upload and returns its ETag (quotes kept).
    public func uploadPart(_ key: String, uploadID: String, partNumber: Int, data: Data) throws -> String {
        let r = try request("PUT", key: key, query: [("partNumber", String(partNumber)), ("uploadId", uploadID)], body: data)
        guard r.status == 200 else { throw Self.error(r) }
        guard let etag = r.headers["etag"], !etag.isEmpty else {
            throw S3Error(status: 200, code: "MalformedAnswer", message: "no ETag for part \(partNumber) of \(key)")
        }
        return etag
    }

    /// Completes an upload from its parts (in part-number order). `expectedSize`, when given,
    /// lets a retried completion whose first answer was lost (`NoSuchUpload`) count as done
    /// when the object is there with that size.
    public func completeMultipartUpload(_ key: String, uploadID: String, parts: [CompletedPart], expectedSize: Int? = nil) throws {
        var body = #"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#
        for part in parts.sorted(by: { $0.partNumber < $1.partNumber }) {
            body += "<Part><ETag>\(XMLText.escape(part.etag))</ETag><PartNumber>\(part.partNumber)</PartNumber></Part>"
        }
        body += "</CompleteMultipartUpload>"
        var attempts = 1
        let r = try request("POST", key: key, query: [("uploadId", uploadID)], body: Data(body.utf8), headers: ["Content-Type": "application/xml"],
                            attempts: &attempts)
        let text = String(decoding: r.body, as: UTF8.self)
        if r.status == 200 && !text.contains("<Error>") { return }
        if r.status == 404, Self.errorCode(r.body) == "NoSuchUpload", attempts > 1, let expectedSize,
           (try? size(key)) == expectedSize {
            return   // an earlier attempt completed it; its answer was lost
        }
        // CompleteMultipartUpload can fail after a 200 with an <Error> document in the body.
        throw r.status == 200 ? S3Error(status: 200, code: XMLText.value("Code", in: text) ?? "InternalError",
                                        message: XMLText.value("Message", in: text) ?? "complete failed") : Self.error(r)
    }

    /// Abandons an upload and frees its parts; one already gone is fine.
    public func abortMultipartUpload(_ key: String, uploadID: String) throws {
        let r = try request("DELETE", key: key, query: [("uploadId", uploadID)])
        guard r.status == 204 || r.status == 200 || (r.status == 404 && Self.errorCode(r.body) == "NoSuchUpload") else { throw Self.error(r) }
    }

    /// Uploads under `prefix` begun and neither completed nor aborted (the first 1 000).
    public func pendingUploads(prefix: String = "") throws -> [PendingUpload] {
        let r = try request("GET", key: nil, query: [("uploads", ""), ("prefix", prefix)])
        guard r.status == 200 else { throw Self.error(r) }
        return XMLText.elements("Upload", in: Substring(String(decoding: r.body, as: UTF8.self))).compactMap { upload in
            guard let key = XMLText.value("Key", in: upload), let id = XMLText.value("UploadId", in: upload) else { return nil }
            return PendingUpload(key: key, uploadID: id)
        }
    }

    /// Stores the file's bytes under `key`: one PUT when it fits in one part, else a multipart
    /// upload that reads the file one part at a time (never the whole file in memory). The part
    /// size grows when the file would need more than 10 000 parts. On any failure the upload is
    /// aborted and no object is left (an existing one under `key` stays as it was). A file that
    /// changes size while it is read fails the upload. `progress`, when given, is called after
    /// each part with the bytes sent so far and the total.
    public func putFile(_ key: String, file: URL, partSize: Int = 8 << 20, progress: ((_ sent: Int, _ total: Int) -> Void)? = nil) throws {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        let total = Int(try handle.seekToEnd())
        try handle.seek(toOffset: 0)
        let size = max(max(1, partSize), (total + Self.maximumPartCount - 1) / Self.maximumPartCount)
        if total <= size {
            let data = try handle.read(upToCount: total) ?? Data()
            guard data.count == total, try handle.read(upToCount: 1)?.isEmpty ?? true else {
                throw LocalFileError("\(file.path) changed size while it was read")
            }
            try put(key, data)
            progress?(total, total)
            return
        }
        let uploadID = try createMultipartUpload(key)
        do {
            var parts: [CompletedPart] = []
            var sent = 0
            while sent < total {
                let want = min(size, total - sent)
                let data = try handle.read(upToCount: want) ?? Data()
                guard data.count == want else {
                    throw LocalFileError("\(file.path) changed size while it was read (\(sent + data.count) of \(total) bytes)")
                }
                let number = parts.count + 1
                parts.append(CompletedPart(partNumber: number, etag: try uploadPart(key, uploadID: uploadID, partNumber: number, data: data)))
                sent += want
                progress?(sent, total)
            }
            guard try handle.read(upToCount: 1)?.isEmpty ?? true else {
                throw LocalFileError("\(file.path) grew while it was read")
            }
            try completeMultipartUpload(key, uploadID: uploadID, parts: parts, expectedSize: total)
        } catch {
            try? abortMultipartUpload(key, uploadID: uploadID)
            throw error
        }
    }
}

/// A local file could not be read as it was when the upload began.
public struct LocalFileError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
