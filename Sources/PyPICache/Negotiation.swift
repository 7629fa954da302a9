import Support

/// The page formats wheelhouse serves, and how a client's Accept header picks
/// one (PEP 691: q-values, with the server's preference breaking ties).
public enum PageFormat: Sendable, Equatable {
    case json       // application/vnd.pypi.simple.v1+json
    case html       // application/vnd.pypi.simple.v1+html
    case legacyHTML // text/html

    public var contentType: String {
        switch self {
        case .json: "application/vnd.pypi.simple.v1+json"
        case .html: "application/vnd.pypi.simple.v1+html"
        case .legacyHTML: "text/html; charset=utf-8"
        }
    }

    /// Server preference order for ties: JSON is cheapest for clients to parse.
    static let preference: [PageFormat] = [.json, .html, .legacyHTML]

    /// The chosen format, or nil when the client accepts none (406).
    /// No Accept header means text/html, as for any browser or old client.
    public static func negotiate(accept: String?) -> PageFormat? {
        guard let accept, !accept.trimmingCharacters(in: " ").isEmpty else { return .legacyHTML }
        var best: (format: PageFormat, q: Double, rank: Int)?
        for item in accept.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: " \t") }
            guard let range = parts.first?.lowercased(), !range.isEmpty else { continue }
            var q = 1.0
            for p in parts.dropFirst() where p.lowercased().hasPrefix("q=") {
                q = Double(p.dropFirst(2)) ?? 0
            }
            guard q > 0 else { continue }
            for format in matches(range) {
                let rank = preference.firstIndex(of: format)!
                if best == nil || q > best!.q || (q == best!.q && rank < best!.rank) {
                    best = (format, q, rank)
                }
            }
        }
        return best?.format
    }

    private static func matches(_ range: String) -> [PageFormat] {
        switch range {
        case "application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.latest+json": [.json]
        case "application/vnd.pypi.simple.v1+html", "application/vnd.pypi.simple.latest+html": [.html]
        case "text/html", "text/*": [.legacyHTML]
        case "*/*": [.legacyHTML]
        case "application/*": [.json, .html]
        default: []
        }
    }
}
