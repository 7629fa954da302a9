/// PEP 508 environment markers (`python_version >= "3.8" and sys_platform != "win32"`),
/// parsed into a tree and evaluated against a target environment.
public indirect enum Marker: Equatable, Sendable {
    case and(Marker, Marker)
    case or(Marker, Marker)
    case compare(String, String, String)  // lhs, op, rhs (variables as "$name")

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    static let variables: Set<String> = [
        "python_version", "python_full_version", "os_name", "sys_platform", "platform_release", "platform_system",
        "platform_version", "platform_machine", "platform_python_implementation", "implementation_name",
        "implementation_version", "extra", "os.name", "sys.platform", "platform.version", "platform.machine",
        "platform.python_implementation", "python_implementation",
    ]
    static let versionVariables: Set<String> = ["python_version", "python_full_version", "implementation_version", "platform_release"]

    public static func parse(_ text: String) throws -> Marker {
        var parser = Parser(tokens: try tokenize(text))
        let marker = try parser.expression()
        guard parser.atEnd else { throw Failure(description: "unexpected '\(parser.peek ?? "")' in marker") }
        return marker
    }

    public func evaluate(_ env: [String: String]) -> Bool {
        switch self {
        case .and(let a, let b): return a.evaluate(env) && b.evaluate(env)
        case .or(let a, let b): return a.evaluate(env) || b.evaluate(env)
        case .compare(let l, let op, let r):
            var lhs = Marker.value(l, env), rhs = Marker.value(r, env)
            let variable = l.hasPrefix("$") ? String(l.dropFirst()) : r.hasPrefix("$") ? String(r.dropFirst()) : ""
            if variable == "extra" {
                // PEP 685: extra names compare normalized (`Socks` is `socks`, `a_b` is `a-b`).
                lhs = Marker.normalizeExtra(lhs)
                rhs = Marker.normalizeExtra(rhs)
            }
            switch op {
            case "in": return rhs.contains(lhs)
            case "not in": return !rhs.contains(lhs)
            default: break
            }
            // Version comparison where both sides read as versions (PEP 508), else strings.
            if Marker.versionVariables.contains(variable) || (Version(lhs) != nil && op == "~="),
               let spec = Specifier(op + rhs), let v = Version(lhs) {
                return spec.contains(v)
            }
            switch op {
            case "==", "===": return lhs == rhs
            case "!=": return lhs != rhs
            case "<": return lhs < rhs
            case "<=": return lhs <= rhs
            case ">": return lhs > rhs
            case ">=": return lhs >= rhs
            default: return false
            }
        }
    }

    /// PEP 685 normalization of an extra's name.
    public static func normalizeExtra(_ name: String) -> String {
        var out = "", lastWasSeparator = false
        for c in name.lowercased() {
            if c == "-" || c == "_" || c == "." {
                if !lastWasSeparator { out.append("-") }
                lastWasSeparator = true
            } else {
                out.append(c)
                lastWasSeparator = false
            }
        }
        return out
    }

    private static func value(_ token: String, _ env: [String: String]) -> String {
        guard token.hasPrefix("$") else { return token }
        let name = String(token.dropFirst()).replacingDots()
        return env[name] ?? ""
    }

    // MARK: - Tokens and grammar

    private static func tokenize(_ text: String) throws -> [String] {
        var tokens: [String] = []
        var chars = Array(text)[...]
        while let c = chars.first {
            if c == " " || c == "\t" { chars = chars.dropFirst(); continue }
            if c == "(" || c == ")" { tokens.append(String(c)); chars = chars.dropFirst(); continue }
            if c == "'" || c == "\"" {
                guard let end = chars.dropFirst().firstIndex(of: c) else { throw Failure(description: "unterminated string in marker") }
                tokens.append("'" + String(chars[chars.index(after: chars.startIndex)..<end]))
                chars = chars[chars.index(after: end)...]
                continue
            }
            if "<>=!~".contains(c) {
                let op = String(chars.prefix { "<>=!~".contains($0) })
                guard Specifier.operators.contains(op) else { throw Failure(description: "unknown operator '\(op)' in marker") }
                tokens.append(op)
                chars = chars.dropFirst(op.count)
                continue
            }
            let word = String(chars.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." })
            guard !word.isEmpty else { throw Failure(description: "unexpected '\(c)' in marker") }
            tokens.append(word)
            chars = chars.dropFirst(word.count)
        }
        return tokens
    }

    private struct Parser {
        var tokens: [String]
        var position = 0
        var atEnd: Bool { position >= tokens.count }
        var peek: String? { atEnd ? nil : tokens[position] }

        mutating func next() throws -> String {
            guard let t = peek else { throw Failure(description: "marker ends too early") }
            position += 1
            return t
        }

        mutating func expression() throws -> Marker {
            var lhs = try conjunction()
            while peek == "or" { position += 1; lhs = .or(lhs, try conjunction()) }
            return lhs
        }

        mutating func conjunction() throws -> Marker {
            var lhs = try atom()
            while peek == "and" { position += 1; lhs = .and(lhs, try atom()) }
            return lhs
        }

        mutating func atom() throws -> Marker {
            if peek == "(" {
                position += 1
                let inner = try expression()
                guard try next() == ")" else { throw Failure(description: "missing ')' in marker") }
                return inner
            }
            let lhs = try operand()
            var op = try next()
            if op == "not" {
                guard try next() == "in" else { throw Failure(description: "expected 'not in' in marker") }
                op = "not in"
            } else if op != "in" && !Specifier.operators.contains(op) {
                throw Failure(description: "expected a comparison, got '\(op)' in marker")
            }
            return .compare(lhs, op, try operand())
        }

        mutating func operand() throws -> String {
            let t = try next()
            if t.hasPrefix("'") { return String(t.dropFirst()) }
            guard Marker.variables.contains(t) else { throw Failure(description: "unknown marker variable '\(t)'") }
            return "$" + t
        }
    }
}

private extension String {
    /// Legacy dotted names (`os.name`) mean the underscored ones.
    func replacingDots() -> String {
        switch self {
        case "os.name": "os_name"
        case "sys.platform": "sys_platform"
        case "platform.version": "platform_version"
        case "platform.machine": "platform_machine"
        case "platform.python_implementation", "python_implementation": "platform_python_implementation"
        default: self
        }
    }
}
