/// A small TOML reader: what `pyproject.toml`, `uv.lock` and `pylock.toml` use.
/// Tables, arrays of tables, dotted and quoted keys, the four string forms,
/// integers, floats, booleans, arrays and inline tables. Dates and times are kept
/// as their text (nothing here needs them as dates). Errors carry the line number.
public indirect enum TOMLValue: Equatable, Sendable {
    case string(String)
    case integer(Int)
    case float(Double)
    case bool(Bool)
    case array([TOMLValue])
    case table([String: TOMLValue])

    public subscript(key: String) -> TOMLValue? {
        if case .table(let t) = self { return t[key] }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var array: [TOMLValue]? { if case .array(let a) = self { return a }; return nil }
    public var table: [String: TOMLValue]? { if case .table(let t) = self { return t }; return nil }
    /// An array of strings (anything else in it is skipped).
    public var strings: [String] { array?.compactMap(\.string) ?? [] }
}

public struct TOMLError: Error, CustomStringConvertible, Equatable {
    public let description: String
}

public enum TOML {
    static let maxDepth = 64

    public static func parse(_ text: String) throws -> TOMLValue {
        var parser = Parser(bytes: Array(text.utf8))
        return try parser.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0
        var line = 1
        var root: [String: TOMLValue] = [:]
        /// The table key-value lines currently go into, as a path from the root
        /// (an array of tables' path means its last element).
        var current: [String] = []
        var depth = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func fail(_ why: String) -> TOMLError { TOMLError(description: "line \(line): \(why)") }
        var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

        mutating func document() throws -> TOMLValue {
            while true {
                skipBlank(newlines: true)
                guard let c = peek else { break }
                if c == UInt8(ascii: "[") {
                    i += 1
                    let isArray = peek == UInt8(ascii: "[")
                    if isArray { i += 1 }
                    skipBlank(newlines: false)
                    let path = try key()
                    skipBlank(newlines: false)
                    guard expect("]"), !isArray || expect("]") else { throw fail("expected ']' after table name") }
                    try openTable(path, array: isArray)
                } else {
                    let path = try key()
                    skipBlank(newlines: false)
                    guard expect("=") else { throw fail("expected '=' after key") }
                    skipBlank(newlines: false)
                    let v = try value()
                    try insert(v, at: current, key: path)
                }
                skipBlank(newlines: false)
                guard peek == nil || peek == UInt8(ascii: "\n") || peek == UInt8(ascii: "\r") else {
                    throw fail("unexpected text after value")
                }
            }
            return .table(root)
        }

        // MARK: - Tables

        mutating func openTable(_ path: [String], array: Bool) throws {
            current = path
            root = try Self.update(root, path: path[...], line: line) { existing in
                if array {
                    var items = existing?.array ?? []
                    guard existing == nil || existing?.array != nil else { return nil }
                    items.append(.table([:]))
                    return .array(items)
                }
                if existing == nil { return .table([:]) }
                return existing?.table != nil || existing?.array != nil ? existing : nil
            }
        }

        mutating func insert(_ value: TOMLValue, at table: [String], key: [String]) throws {
            let full = table + key
            root = try Self.update(root, path: full[...], line: line) { existing in
                existing == nil ? value : nil
            }
        }

        /// Applies `change` to the value at `path`, descending through tables and the
        /// last element of arrays of tables. `change` returns nil to mean "not allowed".
        static func update(_ table: [String: TOMLValue], path: ArraySlice<String>, line: Int,
                           change: (TOMLValue?) -> TOMLValue?) throws -> [String: TOMLValue] {
            var table = table
            let k = path.first!
            if path.count == 1 {
                guard let v = change(table[k]) else { throw TOMLError(description: "line \(line): '\(k)' defined twice or with another type") }
                table[k] = v
                return table
            }
            switch table[k] {
            case nil:
                table[k] = .table(try update([:], path: path.dropFirst(), line: line, change: change))
            case .table(let inner)?:
                table[k] = .table(try update(inner, path: path.dropFirst(), line: line, change: change))
            case .array(var items)? where items.last?.table != nil:
                items[items.count - 1] = .table(try update(items.last!.table!, path: path.dropFirst(), line: line, change: change))
                table[k] = .array(items)
            default:
                throw TOMLError(description: "line \(line): '\(k)' is not a table")
            }
            return table
        }

        // MARK: - Keys

        mutating func key() throws -> [String] {
            var parts: [String] = []
            while true {
                skipBlank(newlines: false)
                guard let c = peek else { throw fail("expected a key") }
                if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                    parts.append(try string())
                } else {
                    let start = i
                    while let c = peek, isBare(c) { i += 1 }
                    guard i > start else { throw fail("expected a key") }
                    parts.append(String(decoding: bytes[start..<i], as: UTF8.self))
                }
                skipBlank(newlines: false)
                guard expect(".") else { return parts }
            }
        }

        func isBare(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
        }

        // MARK: - Values

        mutating func value() throws -> TOMLValue {
            depth += 1
            defer { depth -= 1 }
            guard depth < TOML.maxDepth else { throw fail("values nested too deeply") }
            guard let c = peek else { throw fail("expected a value") }
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "'"): return .string(try string())
            case UInt8(ascii: "["): return try arrayValue()
            case UInt8(ascii: "{"): return try inlineTable()
            default: return try scalar()
            }
        }

        mutating func arrayValue() throws -> TOMLValue {
            i += 1
            var items: [TOMLValue] = []
            while true {
                skipBlank(newlines: true)
                if expect("]") { return .array(items) }
                items.append(try value())
                skipBlank(newlines: true)
                if expect(",") { continue }
                guard expect("]") else { throw fail("expected ',' or ']' in array") }
                return .array(items)
            }
        }

        mutating func inlineTable() throws -> TOMLValue {
            i += 1
            var table: [String: TOMLValue] = [:]
            skipBlank(newlines: false)
            if expect("}") { return .table(table) }
            while true {
                skipBlank(newlines: false)
                let path = try key()
                skipBlank(newlines: false)
                guard expect("=") else { throw fail("expected '=' in inline table") }
                skipBlank(newlines: false)
                let v = try value()
                table = try Self.update(table, path: path[...], line: line) { $0 == nil ? v : nil }
                skipBlank(newlines: false)
                if expect(",") { continue }
                guard expect("}") else { throw fail("expected ',' or '}' in inline table") }
                return .table(table)
            }
        }

        /// Numbers, booleans, dates: a run of characters up to a delimiter.
        mutating func scalar() throws -> TOMLValue {
            let start = i
            while let c = peek, !",]}#\n\r".utf8.contains(c) {
                // A date-time may contain one space ("1979-05-27 07:32:00"); other spaces end the value.
                if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") {
                    let next = i + 1 < bytes.count ? bytes[i + 1] : 0
                    guard i - start == 10, next >= 0x30 && next <= 0x39 else { break }
                }
                i += 1
            }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            if text == "true" { return .bool(true) }
            if text == "false" { return .bool(false) }
            let digits = String(text.filter { $0 != "_" })
            if let n = Int(digits) { return .integer(n) }
            if let d = Double(digits) { return .float(d) }
            if ["inf", "+inf", "-inf", "nan", "+nan", "-nan"].contains(text) { return .float(text.hasSuffix("nan") ? .nan : text.hasPrefix("-") ? -.infinity : .infinity) }
            if let f = text.first, f.isNumber, text.contains("-") || text.contains(":") { return .string(text) }  // a date or time
            throw fail(text.isEmpty ? "expected a value" : "cannot read value '\(text.prefix(40))'")
        }

        mutating func string() throws -> String {
            let quote = bytes[i]
            let literal = quote == UInt8(ascii: "'")
            let multi = i + 2 < bytes.count && bytes[i + 1] == quote && bytes[i + 2] == quote
            i += multi ? 3 : 1
            if multi, peek == UInt8(ascii: "\n") { i += 1; line += 1 }
            else if multi, peek == UInt8(ascii: "\r"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\n") { i += 2; line += 1 }
            var out: [UInt8] = []
            while true {
                guard let c = peek else { throw fail("unterminated string") }
                if c == quote {
                    if !multi { i += 1; break }
                    if i + 2 < bytes.count, bytes[i + 1] == quote, bytes[i + 2] == quote {
                        i += 3
                        // Up to two more quotes right before the closing ones belong to the string.
                        while peek == quote, out.count < Int.max { out.append(quote); i += 1 }
                        break
                    }
                }
                if c == UInt8(ascii: "\n") {
                    guard multi else { throw fail("newline in a single-line string") }
                    line += 1
                }
                if c == UInt8(ascii: "\\") && !literal {
                    i += 1
                    try escape(into: &out, multi: multi)
                    continue
                }
                out.append(c)
                i += 1
            }
            return String(decoding: out, as: UTF8.self)
        }

        mutating func escape(into out: inout [UInt8], multi: Bool) throws {
            guard let e = peek else { throw fail("unterminated string") }
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "e"): out.append(0x1B)
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(e)
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let count = e == UInt8(ascii: "u") ? 4 : 8
                guard i + count <= bytes.count, let code = UInt32(String(decoding: bytes[i..<i + count], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(code) else { throw fail("bad unicode escape") }
                out += Array(String(Character(scalar)).utf8)
                i += count
            case UInt8(ascii: " ") where multi, UInt8(ascii: "\t") where multi, UInt8(ascii: "\n") where multi, UInt8(ascii: "\r") where multi:
                // Line-ending backslash: drop the newline and the whitespace that follows.
                i -= 1
                while let c = peek, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D {
                    if c == 0x0A { line += 1 }
                    i += 1
                }
            default:
                throw fail("unknown escape '\\\(Character(Unicode.Scalar(e)))'")
            }
        }

        // MARK: - Whitespace

        mutating func skipBlank(newlines: Bool) {
            while let c = peek {
                if c == 0x20 || c == 0x09 { i += 1 }
                else if c == UInt8(ascii: "#") { while let d = peek, d != 0x0A { i += 1 } }
                else if newlines && (c == 0x0A || c == 0x0D) { if c == 0x0A { line += 1 }; i += 1 }
                else { return }
            }
        }

        mutating func expect(_ s: StaticString) -> Bool {
            let c = s.utf8Start.pointee
            guard peek == c else { return false }
            i += 1
            return true
        }
    }
}
