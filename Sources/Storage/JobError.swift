/// Failures of the worker queue that are not the spec's fault.
public enum JobError: Error, CustomStringConvertible, Sendable {
    case io(String)
    /// The disk quota would be passed (the run fails; retrying would not help).
    case quota(String)
    public var description: String {
        switch self {
        case .io(let s), .quota(let s): return s
        }
    }
}
