import Foundation
import Support
import Engine

/// Bearer-token access control configured by the operator. Tokens have a scope: `read` (GET and
/// HEAD, predictions and v2 inference) or `write` (everything, read included). Presented tokens
/// are compared by SHA-256 digest in constant time against every configured token; tokens are
/// never logged or echoed.
public struct Authenticator: Sendable {
    public enum Scope: String, Sendable, Comparable {
        case read, write
        public static func < (a: Scope, b: Scope) -> Bool { a == .read && b == .write }
    }

    /// What a request's credentials allow.
    public enum Decision: Equatable, Sendable {
        case allowed
        /// No or an unknown token (401).
        case unauthenticated(String)
        /// A valid token without the scope the operation needs (403).
        case forbidden(String)
    }

    /// Configuration errors (never quote the token).
    public struct ConfigurationError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Shortest token accepted, in characters.
    public static let minimumTokenLength = 16

    private let digests: [(scope: Scope, digest: [UInt8])]

    public init(tokens: [(scope: Scope, token: String)]) throws {
        guard !tokens.isEmpty else { throw ConfigurationError(description: "no tokens configured") }
        for (i, t) in tokens.enumerated() where t.token.count < Self.minimumTokenLength || t.token.contains(where: \.isWhitespace) {
            throw ConfigurationError(description: "token \(i + 1) must be at least \(Self.minimumTokenLength) characters without spaces")
        }
        digests = tokens.map { ($0.scope, Self.digest($0.token)) }
    }

    /// Parses `scope token` pairs, one per line (a token file) or separated by commas (an
    /// environment variable); `#` starts a comment. A bare token is a write token.
    public static func parse(_ text: String) throws -> Authenticator {
        var tokens: [(Scope, String)] = []
        for (n, raw) in text.split(whereSeparator: { $0 == "\n" || $0 == "," }).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" || $0 == "\r" })
            switch parts.count {
            case 0: continue
            case 1: tokens.append((.write, String(parts[0])))
            case 2:
                guard let scope = Scope(rawValue: String(parts[0])) else {
                    throw ConfigurationError(description: "entry \(n + 1): scope must be read or write")
                }
                tokens.append((scope, String(parts[1])))
            default: throw ConfigurationError(description: "entry \(n + 1): expected `scope token`")
            }
        }
        return try Authenticator(tokens: tokens)
    }

    /// Decides whether an `Authorization` header value grants `needed`.
    public func authorize(_ header: String?, needs needed: Scope) -> Decision {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            return .unauthenticated("this endpoint needs an Authorization: Bearer <token> header")
        }
        let presented = Self.digest(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        var matchedRead: UInt8 = 0, matchedWrite: UInt8 = 0
        for entry in digests {
            var difference: UInt8 = 0
            for i in 0..<32 { difference |= entry.digest[i] ^ presented[i] }
            let equal: UInt8 = difference == 0 ? 1 : 0
            let isWrite: UInt8 = entry.scope == .write ? 1 : 0
            matchedWrite |= equal & isWrite
            matchedRead |= equal & (1 - isWrite)
        }
        if matchedWrite == 1 { return .allowed }
        if matchedRead == 1 { return needed == .read ? .allowed : .forbidden("this token has the read scope; this operation needs write") }
        return .unauthenticated("the bearer token is not valid")
    }

    private static func digest(_ token: String) -> [UInt8] {
        var h = SHA256()
        h.update(Array(token.utf8))
        return h.finalize()
    }
}
