/// A study design that cannot be run, naming the field at fault (mapped to 400 at the API's edge).
public struct StudyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field (`factors[0].path`, `cells[3].optimizer.learning_rate`, …).
    public var field: String
    public var message: String
    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { "\(field): \(message)" }
}
