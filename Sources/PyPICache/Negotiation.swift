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
        for item in WeightedList(accept).items {
            let q = item.q
            guard q > 0 else { continue }
            for format in matches(item.value) {
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

/// An HTTP weighted list (`Accept`, `Accept-Encoding`; RFC 9110 12.4.2): each value with
/// its q-value, lowercased. The one parser of q-values here (pages, /+status, gzip).
struct WeightedList {
    struct Item {
        let value: String
        /// 1 when absent; 0 when unreadable (an unreadable weight is no preference).
        let q: Double
    }

    let items: [Item]

    init(_ header: String) {
        items = header.split(separator: ",").compactMap { item in
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: " \t").lowercased() }
            guard let value = parts.first, !value.isEmpty else { return nil }
            var q = 1.0
            for p in parts.dropFirst() where p.hasPrefix("q=") { q = Double(p.dropFirst(2)) ?? 0 }
            return Item(value: value, q: q)
        }
    }

    /// The q-value of the first item naming `value`; nil when none does.
    func quality(of value: String) -> Double? { items.first { $0.value == value }?.q }
}
