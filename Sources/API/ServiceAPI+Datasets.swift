import Foundation
import Support
import HTTP
import Engine
import ObjectStore
import Storage

/// Uploaded data sets: `POST /v1/datasets` streams the body to a part file (hashed on the way,
/// never whole in memory), validates it, moves it into place and only then records it.
extension ServiceAPI {
    /// Where request bodies go, for the server (``HTTPLimits/bodyDestination``): uploads to a
    /// part file — after the token, the size cap and the disk quota were checked from the head
    /// alone —, every other body to memory.
    public func bodyDestination() -> @Sendable (String, String, HTTPHeaders) -> HTTPBodyDestination {
        let router = self.router
        return { [weak self] method, path, headers in
            guard let self, router.bodyCap(method: method, path: path) == .upload,
                  case .found(let route, _) = router.match(method: method, path: path) else { return .memory }
            return self.uploadDestination(route: route, headers: headers)
        }
    }

    private func uploadDestination(route: Router.Route, headers: HTTPHeaders) -> HTTPBodyDestination {
        if let auth = options.authenticator, case .needs(let scope) = route.access {
            switch auth.authorize(headers["Authorization"], needs: scope) {
            case .allowed: break
            case .unauthenticated(let message):
                return .refuse(HTTPParseError(401, message, code: "unauthenticated", headers: ["WWW-Authenticate": #"Bearer realm="neuromod""#]))
            case .forbidden(let message):
                return .refuse(HTTPParseError(403, message, code: "forbidden",
                                              headers: ["WWW-Authenticate": #"Bearer realm="neuromod", error="insufficient_scope""#]))
            }
        }
        let declared = headers["Content-Length"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        if let declared, declared > options.maxDatasetBytes {
            return .refuse(HTTPParseError(413, "a data set may have at most \(options.maxDatasetBytes) bytes (--max-dataset-bytes); this one has \(declared)"))
        }
        do {
            return .sink(try startUpload(declared: declared), maxBytes: options.maxDatasetBytes)
        } catch {
            return .refuse(error)
        }
    }

    /// A part file for an upload. Its bytes are reserved against the quota from the start —
    /// `declared` at once when the length is known — so concurrent uploads cannot all pass it;
    /// they are released once the data set is recorded (it then counts as stored) or dropped.
    private func startUpload(declared: Int?) throws(HTTPParseError) -> DatasetUploadSink {
        if let ledger = quotaLedger, let declared, !ledger.reserve(declared) {
            throw HTTPParseError(507, "the disk quota (\(ledger.quota) bytes for data sets and checkpoints) has \(ledger.left) bytes left; this upload has \(declared)")
        }
        do {
            return DatasetUploadSink(file: try datasetFiles.startUpload(), ledger: quotaLedger, reserved: quotaLedger == nil ? 0 : (declared ?? 0))
        } catch {
            if let declared { quotaLedger?.release(declared) }
            throw HTTPParseError(507, "cannot store the upload: \(error)")
        }
    }

    func createDataset(_ ctx: RequestContext) throws -> HTTPResponse {
        // Whatever is refused below, a streamed upload's part file (and its quota) goes with it.
        var kept = false
        var upload = ctx.request.bodySink as? DatasetUploadSink
        defer { if !kept { upload?.abort() } }
        let name = ctx.request.queryValue("name") ?? "dataset"
        guard (1...200).contains(name.count), !name.contains(where: { $0.isNewline }) else {
            throw APIError.invalid("name", "must be 1 to 200 characters on one line")
        }
        // Over a socket the body was streamed to a part file; a body given in memory (tests
        // without a socket) is written to one here, under the same quota.
        if upload == nil {
            let body = ctx.request.body
            do throws(HTTPParseError) {
                let sink = try startUpload(declared: body.count)
                upload = sink
                let failure = body.withUnsafeBytes { raw -> HTTPParseError? in
                    do throws(HTTPParseError) { try sink.write(raw); return nil } catch { return error }
                }
                if let failure { throw failure }
                try sink.finish()
            } catch {
                throw APIError(error.status, error.status == 507 ? "insufficient_storage" : "invalid_upload", error.message)
            }
        }
        guard let upload else { throw APIError.invalid("body", "no upload") }
        guard upload.file.bytes > 0 else { throw APIError.invalid("body", "the upload is empty: send the data set file as the request body") }
        if let expected = ctx.request.queryValue("sha256"), expected.lowercased() != upload.sha256 {
            throw APIError.invalid("sha256", "the upload's digest is \(upload.sha256), not \(expected.prefix(80)): it was corrupted on the way")
        }
        let id = Identifier.make("ds")
        let contents: DatasetContents
        do {
            // A compressed upload may decode to at most twice the largest plain one.
            contents = try DatasetFile.read(path: upload.file.url.path, name: id, maxDecodedBytes: 2 * options.maxDatasetBytes)
        } catch let e as DatasetError {
            throw APIError(400, "invalid_dataset", e.description, field: "body")
        }
        let summary = contents.summary
        let url = try datasetFiles.commit(upload.file, id: id, format: summary.format.rawValue)
        if let shared = options.sharedBlobs {
            do {
                try shared.put(Self.sharedDatasetKey(id: id, format: summary.format.rawValue), file: url)
            } catch {
                unlink(url.path)
                throw APIError.unavailable("the object store did not take the data set: \(error)", retryAfter: 5)
            }
        }
        var record: DatasetRecord?
        do {
            // Recorded: it now counts as stored, so its reservation goes in the same step.
            try upload.releaseReservation(after: {
                record = try store.createDataset(id: id, name: name, format: summary.format.rawValue, sha256: upload.sha256,
                                                 bytes: upload.file.bytes, description: String(decoding: Self.describe(summary).serialized(), as: UTF8.self))
            })
        } catch {
            // Unless the commit's outcome is unknown (the row may exist): then the files stay, and
            // an unrecorded object is swept later.
            if !((error as? PostgresError)?.isCommitOutcomeUnknown ?? false) {
                unlink(url.path)
                try? options.sharedBlobs?.delete(Self.sharedDatasetKey(id: id, format: summary.format.rawValue))
            }
            throw error
        }
        guard let record else { throw APIError.invalid("body", "no upload") }
        kept = true   // not loaded for runs until one needs it: unused data sets cost no memory
        var r = JSONResponse.make(201, Self.datasetJSON(record))
        r.headers.set("Location", "/v1/datasets/\(id)")
        return r
    }

    func listDatasets(_ ctx: RequestContext) throws -> HTTPResponse {
        let (after, limit) = try paging(ctx)
        let page = try store.listDatasets(after: after, limit: limit)
        return JSONResponse.make(200, Representation.list("datasets", page.items.map(Self.datasetJSON), next: page.nextAfter))
    }

    func getDataset(_ ctx: RequestContext) throws -> HTTPResponse {
        let id = ctx.parameter("dataset_id")
        guard let record = try store.dataset(id: id) else { throw APIError.notFound("data set \(id)") }
        return JSONResponse.make(200, Self.datasetJSON(record))
    }

    func deleteDataset(_ ctx: RequestContext) throws -> HTTPResponse {
        let record = try store.deleteDataset(id: ctx.parameter("dataset_id"))
        datasetFiles.remove(id: record.id, format: record.format)
        try? options.sharedBlobs?.delete(Self.sharedDatasetKey(id: record.id, format: record.format))   // else swept later
        workers.datasets.forget(record.id)
        return HTTPResponse(status: 204)
    }

    /// An uploaded data set's key in the shared object store.
    public static func sharedDatasetKey(id: String, format: String) -> String { "datasets/\(id).\(format)" }

    /// The catalog specs are checked against: an uploaded data set's widths, classes and sizes.
    var datasetCatalog: ExperimentSpec.DatasetCatalog { Self.datasetCatalog(store) }

    static func datasetCatalog(_ store: Store) -> ExperimentSpec.DatasetCatalog {
        { id in
            guard let record = try? store.dataset(id: id), let d = JSONValue.parse(Data(record.description.utf8))?.objectValue else { return nil }
            let counts: [String: JSONValue] = d["counts"]?.objectValue ?? [:]
            guard let features = d["features"]?.intValue, let classes = d["classes"]?.intValue,
                  let train = counts["train"]?.intValue, let test = counts["test"]?.intValue else { return nil }
            let shape = d["sample_shape"]?.arrayValue?.compactMap(\.intValue)
            return ExperimentSpec.DatasetDescriptor(features: features, classes: classes, train: train, test: test, sha256: record.sha256,
                                                    sampleShape: shape, validation: counts["validation"]?.intValue)
        }
    }

    static func describe(_ s: DatasetFileSummary) -> JSONValue {
        .object([
            "format": .string(s.format.rawValue),
            "sample_shape": .array(s.sampleShape.map { .number(Double($0)) }),
            "features": .number(Double(s.features)),
            "classes": .number(Double(s.classes)),
            "counts": .object(["train": .number(Double(s.trainCount)), "test": .number(Double(s.testCount)),
                               "validation": s.validationCount.map { .number(Double($0)) } ?? .null]),
        ])
    }

    static func datasetJSON(_ r: DatasetRecord) -> JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(r.id), "name": .string(r.name), "format": .string(r.format), "sha256": .string(r.sha256),
            "bytes": .number(Double(r.bytes)), "created_at": Representation.timestamp(r.createdAt),
            "links": .object(["self": .string("/v1/datasets/\(r.id)")]),
        ]
        if case .object(let d)? = JSONValue.parse(Data(r.description.utf8)) {
            for key in ["sample_shape", "features", "classes", "counts"] { o[key] = d[key] ?? .null }
        }
        return .object(o)
    }
}

/// An upload being received: bytes go to the part file and through SHA-256 as they arrive.
/// Under a quota, the bytes written are covered by a reservation (taken from the head when the
/// length was declared, grown in 8 MiB steps otherwise) until the data set is recorded or dropped.
final class DatasetUploadSink: HTTPBodySink, @unchecked Sendable {
    let file: UploadFile
    private let ledger: QuotaLedger?
    private let lock = NSLock()
    private var reserved: Int
    private var hasher = SHA256()
    private(set) var sha256 = ""

    init(file: UploadFile, ledger: QuotaLedger?, reserved: Int) {
        self.file = file
        self.ledger = ledger
        self.reserved = reserved
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) {
        if let ledger, file.bytes + bytes.count > reserved {
            let more = max(file.bytes + bytes.count - reserved, 8 << 20)
            guard ledger.reserve(more) else {
                throw HTTPParseError(507, "the disk quota (\(ledger.quota) bytes for data sets and checkpoints) has \(ledger.left) bytes left; the upload is larger")
            }
            lock.lock(); reserved += more; lock.unlock()
        }
        do {
            try file.append(bytes)
        } catch let e as UploadError where e.code == ENOSPC {
            throw HTTPParseError(507, "no space left on the server's disk")
        } catch {
            throw HTTPParseError(500, "cannot write the upload")
        }
        hasher.update(bytes)
    }

    func finish() throws(HTTPParseError) {
        do { try file.finish() } catch { throw HTTPParseError(507, "cannot store the upload: \(error)") }
        sha256 = hasher.finalizeHex()
    }

    func abort() {
        releaseReservation(after: { file.discard() })
    }

    /// Runs `change` (recording the data set, or removing its part file) and gives the reserved
    /// bytes back (once) in one step of the ledger, so no other upload sees them counted both as
    /// stored and reserved, or as reserved after the part file is gone. If `change` throws, the
    /// reservation stays for `abort`.
    func releaseReservation(after change: () throws -> Void) rethrows {
        guard let ledger else { return try change() }
        try ledger.exclusively {
            try change()
            lock.lock()
            let n = reserved
            reserved = 0
            lock.unlock()
            ledger.releaseHoldingLock(n)
        }
    }
}

/// The disk quota's accounting: what is stored (data sets and checkpoints, from the store) plus
/// what uploads in progress have reserved.
final class QuotaLedger: @unchecked Sendable {
    let quota: Int
    private let stored: () -> Int?
    private let lock = NSLock()
    private var reserved = 0

    init(quota: Int, stored: @escaping () -> Int?) {
        self.quota = quota
        self.stored = stored
    }

    /// Bytes left now (0 when the store cannot be read).
    var left: Int {
        lock.lock(); defer { lock.unlock() }
        guard let used = stored() else { return 0 }
        return max(0, quota - used - reserved)
    }

    /// Reserves `n` bytes if they fit (a store that cannot be read fits nothing).
    func reserve(_ n: Int) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard let used = stored(), used + reserved + n <= quota else { return false }
        reserved += n
        return true
    }

    func release(_ n: Int) {
        lock.lock(); releaseHoldingLock(n); lock.unlock()
    }

    /// Runs `body` while no reservation can be taken or released.
    func exclusively<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body()
    }

    fileprivate func releaseHoldingLock(_ n: Int) {
        reserved = max(0, reserved - n)
    }
}
