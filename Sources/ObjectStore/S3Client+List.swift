import Foundation

/// ListObjectsV2: one page at a time, or every object under a prefix across pages.
extension S3Client {
    /// An object as a listing describes it.
    public struct ObjectInfo: Sendable, Equatable {
        public let key: String
        public let size: Int
        public let lastModified: Date
        /// The ETag as the server wrote it (quotes kept); empty when it gave none.
        public let etag: String
    }

    /// One page of a listing and the token for the next (nil on the last page).
    public struct ListPage: Sendable, Equatable {
        public let objects: [ObjectInfo]
        public let nextContinuationToken: String?
    }

    /// One page (`GET /bucket?list-type=2&prefix=…&max-keys=…`) of the objects whose keys start
    /// with `prefix`, in key order, at most `maxKeys` (S3 gives at most 1 000 whatever is asked).
    public func listPage(prefix: String, maxKeys: Int = 1000, continuationToken: String? = nil) throws -> ListPage {
        var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(max(1, maxKeys)))]
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let r = try request("GET", key: nil, query: query)
        guard r.status == 200 else { throw Self.error(r) }
        let text = String(decoding: r.body, as: UTF8.self)
        guard text.contains("<ListBucketResult") else {
            throw S3Error(status: r.status, code: "MalformedAnswer", message: "not a ListBucketResult: \(text.prefix(200))")
        }
        var objects: [ObjectInfo] = []
        for entry in XMLText.elements("Contents", in: Substring(text)) {
            guard let key = XMLText.value("Key", in: entry), let size = XMLText.value("Size", in: entry).flatMap({ Int($0) }) else {
                throw S3Error(status: r.status, code: "MalformedAnswer", message: "an entry without Key or Size: \(entry.prefix(200))")
            }
            let modified = XMLText.value("LastModified", in: entry).flatMap(XMLText.date) ?? Date(timeIntervalSince1970: 0)
            objects.append(ObjectInfo(key: key, size: size, lastModified: modified, etag: XMLText.value("ETag", in: entry) ?? ""))
        }
        // The page's own fields (an entry's fields never share their names).
        let truncated = XMLText.value("IsTruncated", in: text) == "true"
        let token = XMLText.value("NextContinuationToken", in: text)
        guard truncated else { return ListPage(objects: objects, nextContinuationToken: nil) }
        guard let token, !token.isEmpty else {
            throw S3Error(status: r.status, code: "MalformedAnswer", message: "a truncated listing without NextContinuationToken")
        }
        return ListPage(objects: objects, nextContinuationToken: token)
    }

    /// Every object whose key starts with `prefix`, in key order, fetched `maxKeys` at a time.
    public func list(prefix: String, maxKeys: Int = 1000) throws -> [ObjectInfo] {
        var all: [ObjectInfo] = []
        var token: String?
        var seen = Set<String>()
        repeat {
            let page = try listPage(prefix: prefix, maxKeys: maxKeys, continuationToken: token)
            all += page.objects
            token = page.nextContinuationToken
            if let token, !seen.insert(token).inserted {
                throw S3Error(status: 200, code: "MalformedAnswer", message: "the listing repeated continuation token \(token)")
            }
        } while token != nil
        return all
    }
}
