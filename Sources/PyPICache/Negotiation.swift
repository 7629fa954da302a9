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
        guard let accept, !accept.utf8.allSatisfy({ $0 == UInt8(ascii: " ") }) else { return .legacyHTML }
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

    private static let jsonOnly: [PageFormat] = [.json], htmlOnly: [PageFormat] = [.html]
    private static let legacyOnly: [PageFormat] = [.legacyHTML], application: [PageFormat] = [.json, .html]

    private static func matches(_ range: String) -> [PageFormat] {
        switch range {
        case "application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.latest+json": jsonOnly
        case "application/vnd.pypi.simple.v1+html", "application/vnd.pypi.simple.latest+html": htmlOnly
        case "text/html", "text/*": legacyOnly
        case "*/*": legacyOnly
        case "application/*": application
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

    /// Read byte by byte: every page request parses two of these, and splitting into
    /// trimmed, lowercased Strings cost more than the rest of serving a cached page.
    init(_ header: String) {
        var header = header
        items = header.withUTF8 { WeightedList.items(in: $0) }
    }

    private static func items(in bytes: UnsafeBufferPointer<UInt8>) -> [Item] {
        var items: [Item] = []
        var start = 0
        while start <= bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.count
            // item = value *( ";" parameter ), each part trimmed of spaces and tabs
            var partStart = start
            var value: String?
            var q = 1.0
            while partStart <= end {
                let partEnd = bytes[partStart..<end].firstIndex(of: UInt8(ascii: ";")) ?? end
                let part = trimmed(bytes, partStart..<partEnd)
                if value == nil {
                    guard !part.isEmpty else { break }
                    value = lowercased(bytes, part)
                } else if part.count >= 2, bytes[part.lowerBound] | 0x20 == UInt8(ascii: "q"), bytes[part.lowerBound + 1] == UInt8(ascii: "=") {
                    q = Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[(part.lowerBound + 2)..<part.upperBound]), as: UTF8.self)) ?? 0
                }
                partStart = partEnd + 1
            }
            if let value { items.append(Item(value: value, q: q)) }
            start = end + 1
        }
        return items
    }

    private static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound, upper = range.upperBound
        while lower < upper, bytes[lower] == UInt8(ascii: " ") || bytes[lower] == UInt8(ascii: "\t") { lower += 1 }
        while upper > lower, bytes[upper - 1] == UInt8(ascii: " ") || bytes[upper - 1] == UInt8(ascii: "\t") { upper -= 1 }
        return lower..<upper
    }

    private static func lowercased(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        let slice = UnsafeBufferPointer(rebasing: bytes[range])
        if slice.contains(where: { $0 >= 0x80 }) { return String(decoding: slice, as: UTF8.self).lowercased() }
        guard slice.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            return String(decoding: slice, as: UTF8.self)
        }
        return String(unsafeUninitializedCapacity: slice.count) { out in
            for (i, b) in slice.enumerated() { out[i] = b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b | 0x20 : b }
            return slice.count
        }
    }

    /// The q-value of the first item naming `value`; nil when none does.
    func quality(of value: String) -> Double? { items.first { $0.value == value }?.q }
}
