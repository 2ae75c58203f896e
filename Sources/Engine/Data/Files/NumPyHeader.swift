/// The header of a `.npy` array: the Python dict literal NumPy writes, such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }`, parsed strictly — a dict
/// of exactly these three keys whose values are strings, `True`/`False` and tuples of integers.
struct NumPyHeader: Equatable {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    /// The values a header may hold.
    enum Literal: Equatable {
        case string(String)
        case bool(Bool)
        case integer(Int)
        case tuple([Literal])
    }

    /// Parses the header text of the array `name` (messages name it).
    static func parse(_ text: [UInt8], name: String) throws -> NumPyHeader {
        var parser = Parser(text: text, name: name)
        let dict = try parser.dictionary()
        try parser.expectEnd()
        guard Set(dict.keys) == ["descr", "fortran_order", "shape"] else {
            throw DatasetError("\(name): the .npy header must hold exactly 'descr', 'fortran_order' and 'shape', but holds \(dict.keys.sorted().map { "'\($0)'" }.joined(separator: ", "))")
        }
        guard case .string(let descr)? = dict["descr"] else {
            throw DatasetError("\(name): the .npy header's 'descr' is not a plain dtype string (structured dtypes are not supported)")
        }
        guard case .bool(let fortran)? = dict["fortran_order"] else {
            throw DatasetError("\(name): the .npy header's 'fortran_order' is not True or False")
        }
        guard case .tuple(let dims)? = dict["shape"] else {
            throw DatasetError("\(name): the .npy header's 'shape' is not a tuple")
        }
        var shape: [Int] = []
        for d in dims {
            guard case .integer(let n) = d, n >= 0 else {
                throw DatasetError("\(name): the .npy header's 'shape' holds something other than non-negative integers")
            }
            shape.append(n)
        }
        return NumPyHeader(descr: descr, fortranOrder: fortran, shape: shape)
    }

    /// A recursive-descent reader of the literal, byte by byte.
    private struct Parser {
        let text: [UInt8]
        let name: String
        var position = 0

        init(text: [UInt8], name: String) {
            self.text = text
            self.name = name
        }

        private func fail(_ what: String) -> DatasetError {
            DatasetError("\(name): malformed .npy header at byte \(position): \(what)")
        }

        private mutating func skipSpace() {
            while position < text.count, [0x20, 0x09, 0x0a, 0x0d].contains(text[position]) { position += 1 }
        }

        private mutating func peek() -> UInt8? {
            skipSpace()
            return position < text.count ? text[position] : nil
        }

        private mutating func expect(_ c: Character) throws {
            guard peek() == c.asciiValue else { throw fail("expected '\(c)'") }
            position += 1
        }

        mutating func expectEnd() throws {
            guard peek() == nil else { throw fail("unexpected text after the dict") }
        }

        mutating func dictionary() throws -> [String: Literal] {
            try expect("{")
            var result: [String: Literal] = [:]
            while peek() != UInt8(ascii: "}") {
                guard case .string(let key) = try value() else { throw fail("a dict key must be a string") }
                try expect(":")
                guard result.updateValue(try value(), forKey: key) == nil else { throw fail("key '\(key)' repeated") }
                guard peek() == UInt8(ascii: ",") else { break }
                position += 1
            }
            try expect("}")
            return result
        }

        private mutating func value() throws -> Literal {
            guard let c = peek() else { throw fail("the header ends early") }
            switch c {
            case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try string(quote: c))
            case UInt8(ascii: "("): return .tuple(try tuple())
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"): return .integer(try integer())
            case UInt8(ascii: "T"), UInt8(ascii: "F"):
                if word("True") { return .bool(true) }
                if word("False") { return .bool(false) }
                throw fail("expected True or False")
            case UInt8(ascii: "["): throw fail("lists are not supported (structured dtypes are not supported)")
            default: throw fail("unexpected character '\(Character(Unicode.Scalar(c)))'")
            }
        }

        private mutating func word(_ w: String) -> Bool {
            let bytes = Array(w.utf8)
            guard text.count - position >= bytes.count, Array(text[position..<(position + bytes.count)]) == bytes else { return false }
            let after = position + bytes.count
            if after < text.count, isIdentifierByte(text[after]) { return false }
            position = after
            return true
        }

        private func isIdentifierByte(_ c: UInt8) -> Bool {
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_")
        }

        /// A quoted string without escapes (NumPy's keys and dtype strings need none).
        private mutating func string(quote: UInt8) throws -> String {
            position += 1
            let start = position
            while position < text.count, text[position] != quote {
                guard text[position] != UInt8(ascii: "\\"), text[position] != 0x0a else { throw fail("escapes and line breaks are not supported in strings") }
                position += 1
            }
            guard position < text.count else { throw fail("unterminated string") }
            let s = String(decoding: text[start..<position], as: UTF8.self)
            position += 1
            return s
        }

        /// A decimal integer of at most 18 digits, so it cannot overflow.
        private mutating func integer() throws -> Int {
            var negative = false
            if text[position] == UInt8(ascii: "-") {
                negative = true
                position += 1
            }
            let start = position
            var n = 0
            while position < text.count, text[position] >= UInt8(ascii: "0"), text[position] <= UInt8(ascii: "9") {
                guard position - start < 18 else { throw fail("integer too large") }
                n = n * 10 + Int(text[position] - UInt8(ascii: "0"))
                position += 1
            }
            guard position > start else { throw fail("expected digits") }
            if position < text.count, isIdentifierByte(text[position]) { throw fail("malformed integer") }
            return negative ? -n : n
        }

        /// `()`, `(5,)`, `(60000, 784)` or `(2, 3,)`; a single element needs its comma, as in Python.
        private mutating func tuple() throws -> [Literal] {
            try expect("(")
            var items: [Literal] = []
            var sawComma = false
            while peek() != UInt8(ascii: ")") {
                items.append(try value())
                sawComma = peek() == UInt8(ascii: ",")
                guard sawComma else { break }
                position += 1
            }
            try expect(")")
            if items.count == 1 && !sawComma { throw fail("(x) is not a tuple; write (x,)") }
            return items
        }
    }
}
