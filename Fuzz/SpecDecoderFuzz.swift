// libFuzzer target for the run-spec decoder: bytes → JSONValue.parse → ExperimentSpec.parse
// (built by scripts/fuzz.sh into the Engine module's sources; not part of the SwiftPM package).
//
// Oracle: no crash or sanitizer report; a spec that validates serialises to canonical JSON that
// parses and validates again to the same spec (the stored form round-trips).
import Foundation
import Support

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpecDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    guard let json = JSONValue.parse(bytes) else { return 0 }
    _ = json.serialized()
    guard let spec = try? ExperimentSpec.parse(json) else { return 0 }
    let canonical = spec.canonicalJSON()
    guard let again = JSONValue.parse(canonical) else { preconditionFailure("canonical JSON does not parse") }
    let decoded = try? JSONDecoder().decode(ExperimentSpec.self, from: canonical)
    precondition(decoded == spec, "the stored form does not decode to the same spec")
    _ = again
    return 0
}
