/// A project name in PEP 503 normalized form. It cannot exist any other way:
/// the only initializer validates and normalizes.
public struct ProjectName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let normalized: String

    /// Validates against PEP 508's name grammar, then normalizes
    /// (runs of `-`, `_`, `.` become one `-`; lower case). Nil when invalid.
    public init?(_ raw: some StringProtocol) {
        let bytes = Array(raw.utf8)
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 200,
              ProjectName.isAlnum(first), ProjectName.isAlnum(last),
              bytes.allSatisfy({ ProjectName.isAlnum($0) || ProjectName.isSeparator($0) })
        else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var inSeparator = false
        for b in bytes {
            if ProjectName.isSeparator(b) {
                if !inSeparator { out.append(UInt8(ascii: "-")) }
                inSeparator = true
            } else {
                out.append(b >= 65 && b <= 90 ? b + 32 : b)
                inSeparator = false
            }
        }
        normalized = String(decoding: out, as: UTF8.self)
    }

    public var description: String { normalized }
    public static func < (a: ProjectName, b: ProjectName) -> Bool { a.normalized < b.normalized }

    private static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
    }

    private static func isSeparator(_ b: UInt8) -> Bool { b == 45 || b == 46 || b == 95 }

    /// The project a distribution filename belongs to, when it can be told:
    /// wheels escape `-` in names, so their name ends at the first `-`; for sdists
    /// the name ends at the first `-` followed by a digit (the version).
    public static func guess(fromFilename filename: String) -> ProjectName? {
        let chars = Array(filename)
        if filename.hasSuffix(".whl"), let dash = chars.firstIndex(of: "-") {
            return ProjectName(String(chars[..<dash]))
        }
        for i in chars.indices.dropLast() where chars[i] == "-" && chars[i + 1].isNumber {
            return ProjectName(String(chars[..<i]))
        }
        return nil
    }
}
