/// PEP 440 version specifiers: one clause (`>=1.2`, `==1.4.*`, `~=2.2`), and a
/// comma-separated set of them, all of which must hold.
public struct Specifier: Equatable, Sendable, CustomStringConvertible {
    public let op: String
    public let text: String
    public let version: Version?
    public let wildcard: Bool

    public static let operators = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"]

    public init?(_ clause: some StringProtocol) {
        let c = String(clause.filter { $0 != " " && $0 != "\t" })
        guard let op = Specifier.operators.first(where: { c.hasPrefix($0) }) else { return nil }
        var rest = String(c.dropFirst(op.count))
        guard !rest.isEmpty else { return nil }
        self.op = op
        text = rest
        if op == "===" {
            version = nil
            wildcard = false
            return
        }
        wildcard = rest.hasSuffix(".*")
        guard !wildcard || op == "==" || op == "!=" else { return nil }
        if wildcard { rest = String(rest.dropLast(2)) }
        guard let v = Version(rest), !(op == "~=" && v.release.count < 2) else { return nil }
        version = v
    }

    public var description: String { op + text }

    /// A clause that names exactly one version (`==1.2.3`, `===x`).
    public var isPin: Bool { op == "===" || (op == "==" && !wildcard) }

    public func contains(_ candidate: Version) -> Bool {
        if op == "===" { return candidate.description.lowercased() == text.lowercased() }
        guard let v = version else { return false }
        let c = v.local.isEmpty ? candidate.publicVersion : candidate
        switch op {
        case "==":
            return wildcard ? prefixMatches(c, v) : c == v
        case "!=":
            return !(wildcard ? prefixMatches(c, v) : c == v)
        case "<=": return c.publicVersion <= v
        case ">=": return c.publicVersion >= v
        case "<":
            // <V excludes V's own pre-releases unless V is one itself.
            guard c.publicVersion < v else { return false }
            return v.isPrerelease || !(c.isPrerelease && c.releasePadded(v.release.count) == v.releasePadded(c.release.count))
        case ">":
            // >V excludes V's post-releases unless V is one itself.
            guard c.publicVersion > v else { return false }
            if v.post == nil, c.post != nil, c.releasePadded(v.release.count) == v.releasePadded(c.release.count) { return false }
            return true
        case "~=":
            let prefix = Array(v.release.dropLast())
            return c >= v && c.epoch == v.epoch && Array(c.releasePadded(prefix.count).prefix(prefix.count)) == prefix
        default:
            return false
        }
    }

    /// `==1.2.*`: the release starts with 1.2 (epochs equal), whatever follows.
    private func prefixMatches(_ c: Version, _ v: Version) -> Bool {
        c.epoch == v.epoch && Array(c.releasePadded(v.release.count).prefix(v.release.count)) == v.release
    }
}

public struct SpecifierSet: Equatable, Sendable, CustomStringConvertible {
    public var clauses: [Specifier]

    public init(_ clauses: [Specifier] = []) { self.clauses = clauses }

    /// nil when any clause is malformed.
    public init?(parsing text: some StringProtocol) {
        var clauses: [Specifier] = []
        for part in text.split(separator: ",") where !part.trimmingCharacters(in: " \t").isEmpty {
            guard let s = Specifier(part) else { return nil }
            clauses.append(s)
        }
        self.clauses = clauses
    }

    public var description: String { clauses.map(\.description).joined(separator: ",") }

    /// Pre-releases count only when a clause names one (as pip does by default).
    public var allowsPrereleases: Bool {
        clauses.contains { $0.version?.isPrerelease == true && ["==", "===", "<=", ">=", "~=", "<", ">"].contains($0.op) }
    }

    public var pin: Specifier? { clauses.first(where: \.isPin) }

    public func contains(_ v: Version, prereleases: Bool? = nil) -> Bool {
        if v.isPrerelease && !(prereleases ?? allowsPrereleases) { return false }
        return clauses.allSatisfy { $0.contains(v) }
    }
}
