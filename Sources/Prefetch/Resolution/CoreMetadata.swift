import Reactor

/// The parts of a distribution's core metadata (METADATA, PKG-INFO, PEP 658
/// `.metadata`) that resolution needs. The format is email-header-like: `Key: value`
/// lines, continuation lines start with whitespace, a blank line ends the headers.
public struct CoreMetadata: Equatable, Sendable {
    public var metadataVersion: String?
    public var name: String?
    public var version: String?
    public var requiresPython: String?
    public var requiresDist: [String] = []
    public var providesExtra: [String] = []
    /// PEP 643: fields whose values the sdist does not fix (only builds know them).
    public var dynamic: [String] = []

    public init() {}

    public init(parsing bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        var key: String?
        var value = ""
        func flush() {
            guard let k = key else { return }
            let v = value.trimmingCharacters(in: " \t\r")
            switch k.lowercased() {
            case "metadata-version": metadataVersion = v
            case "name": name = v
            case "version": version = v
            case "requires-python": requiresPython = v
            case "requires-dist": requiresDist.append(v)
            case "provides-extra": providesExtra.append(v)
            case "dynamic": dynamic.append(v.lowercased())
            default: break
            }
            key = nil
            value = ""
        }
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.isEmpty { break }  // the body (long description) follows
            if line.first == " " || line.first == "\t" {
                value += " " + line.trimmingCharacters(in: " \t")
                continue
            }
            flush()
            guard let colon = line.firstIndex(of: ":") else { continue }
            key = String(line[..<colon])
            value = String(line[line.index(after: colon)...])
        }
        flush()
    }

    /// Whether Requires-Dist can be trusted without building: metadata 2.2+ (PEP 643)
    /// that does not declare it dynamic. Wheels' metadata is always final.
    public var declaresDependenciesStatically: Bool {
        guard let v = metadataVersion.flatMap(Version.init), v >= Version("2.2")! else { return false }
        return !dynamic.contains("requires-dist")
    }
}
