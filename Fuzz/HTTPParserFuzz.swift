// libFuzzer target for the HTTP/1.1 request parser (built by scripts/fuzz.sh into the HTTP
// module's sources; not part of the SwiftPM package).
//
// Oracle: no crash or sanitizer report, and the parser is split-invariant — feeding the input
// whole or in pieces (cut where the first byte says) yields the same requests and the same error.
// Small limits let the fuzzer reach every limit path.
import Foundation

private struct Outcome: Equatable {
    var requests: [String] = []
    var error: HTTPParseError?
}

private func describe(_ r: HTTPRequest) -> String {
    "\(r.method) \(r.target) \(r.path)?\(r.query) \(r.version) \(r.headers.fields.map { "\($0.name)=\($0.value)" }) \(r.body.count) \(r.body.hashValue) \(r.keepAlive)"
}

private func parse(_ bytes: [UInt8], cut: Int) -> Outcome {
    var parser = HTTPRequestParser(limits: HTTPLimits(maxRequestLineBytes: 256, maxHeaderBytes: 1024, maxHeaderCount: 16,
                                                      maxBodyBytes: 4096))
    var outcome = Outcome()
    var offset = 0
    while offset < bytes.count {
        let end = min(bytes.count, offset + cut)
        parser.append(bytes[offset..<end])
        offset = end
        _ = parser.shouldSendContinue()
        do {
            while let request = try parser.next() {
                precondition(request.body.count <= 4096, "a body beyond the limit was accepted")
                outcome.requests.append(describe(request))
            }
        } catch {
            outcome.error = error
            return outcome
        }
    }
    return outcome
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let whole = parse(bytes, cut: max(bytes.count, 1))
    let cut = 1 + Int(bytes.first ?? 0) % 17
    let pieces = parse(bytes, cut: cut)
    precondition(whole == pieces, "split at \(cut) changed the outcome: \(whole) vs \(pieces)")
    return 0
}
