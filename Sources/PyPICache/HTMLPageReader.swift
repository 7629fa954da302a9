/// Reads a PEP 503 HTML project page incrementally, chunk by chunk: finds
/// `<a ...>text</a>` elements, with either quote (or none) around attribute values and
/// entities unescaped. PEP 503 pages are machine-written and simple; this reads exactly
/// that much HTML, the way the whole-page scanner it replaces did, with every state
/// able to stop at a chunk boundary (inside a tag, a value, or a split `</a`).
public struct HTMLPageReader {
    enum State {
        /// Outside any anchor, looking for '<'.
        case outside
        /// After '<'.
        case lessThan
        /// After `<a`: an anchor only if a space or '>' follows.
        case lessThanA
        /// Inside the tag, between attributes ('/' and spaces are skipped).
        case beforeAttribute
        case attributeName
        /// Spaces after a name: '=' or the next attribute.
        case afterAttributeName
        /// After '=': spaces, then a quoted or bare value.
        case beforeValue
        case quotedValue(quote: UInt8)
        case bareValue
        /// Between the tag's '>' and `</a`.
        case anchorText
        /// '<' inside the text: `</a` ends it, anything else is text.
        case textLessThan
        case textLessThanSlash
    }

    /// The attributes a file link uses; others are read and dropped.
    enum Attribute: Int, CaseIterable {
        case href, requiresPython, yanked, coreMetadata, distInfoMetadata

        static func named(_ lowercased: [UInt8]) -> Attribute? {
            switch String(decoding: lowercased, as: UTF8.self) {
            case "href": .href
            case "data-requires-python": .requiresPython
            case "data-yanked": .yanked
            case "data-core-metadata": .coreMetadata
            case "data-dist-info-metadata": .distInfoMetadata
            default: nil
            }
        }
    }

    private var state = State.outside
    private var name: [UInt8] = []
    private var value: [UInt8] = []
    private var text: [UInt8] = []
    /// This anchor's attributes, unescaped, by `Attribute`; the last of equal names wins.
    private var attributes: [String?] = Array(repeating: nil, count: Attribute.allCases.count)
    private let projectName: String
    private let resolver: UpstreamURLResolver
    private var files: [DistributionFile] = []
    /// Links kept so far.
    var fileCount: Int { files.count }

    public init(baseURL: String, project: ProjectName) {
        projectName = project.normalized
        resolver = UpstreamURLResolver(base: baseURL)
    }

    public mutating func feed(_ chunk: UnsafeRawBufferPointer) {
        chunk.withMemoryRebound(to: UInt8.self) { feed(bytes: $0) }
    }

    private mutating func feed(bytes b: UnsafeBufferPointer<UInt8>) {
        var i = 0
        let n = b.count
        // Each case either consumes the byte (i += 1) or changes state to read it again.
        while i < n {
            let c = b[i]
            switch state {
            case .outside:
                while i < n, b[i] != UInt8(ascii: "<") { i += 1 }
                if i < n { state = .lessThan; i += 1 }
            case .lessThan:
                if c | 0x20 == UInt8(ascii: "a") { state = .lessThanA; i += 1 } else { state = .outside }
            case .lessThanA:
                if isSpace(c) || c == UInt8(ascii: ">") {
                    for k in attributes.indices { attributes[k] = nil }
                    state = .beforeAttribute
                } else {
                    state = .outside
                }
            case .beforeAttribute:
                if isSpace(c) || c == UInt8(ascii: "/") {
                    i += 1
                } else if c == UInt8(ascii: ">") {
                    beginText()
                    i += 1
                } else {
                    name.removeAll(keepingCapacity: true)
                    state = .attributeName
                }
            case .attributeName:
                let start = i
                while i < n, !isSpace(b[i]), b[i] != UInt8(ascii: "="), b[i] != UInt8(ascii: ">") { i += 1 }
                name.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i]))
                if i < n { state = .afterAttributeName }
            case .afterAttributeName:
                if isSpace(c) {
                    i += 1
                } else if c == UInt8(ascii: "=") {
                    state = .beforeValue
                    i += 1
                } else {
                    value.removeAll(keepingCapacity: true)
                    endAttribute()
                }
            case .beforeValue:
                value.removeAll(keepingCapacity: true)
                if isSpace(c) {
                    i += 1
                } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                    state = .quotedValue(quote: c)
                    i += 1
                } else {
                    state = .bareValue
                }
            case .quotedValue(let quote):
                let start = i
                while i < n, b[i] != quote { i += 1 }
                value.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i]))
                if i < n {
                    endAttribute()
                    i += 1
                }
            case .bareValue:
                let start = i
                while i < n, !isSpace(b[i]), b[i] != UInt8(ascii: ">") { i += 1 }
                value.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i]))
                if i < n { endAttribute() }
            case .anchorText:
                let start = i
                while i < n, b[i] != UInt8(ascii: "<") { i += 1 }
                text.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i]))
                if i < n { state = .textLessThan; i += 1 }
            case .textLessThan:
                if c == UInt8(ascii: "/") {
                    state = .textLessThanSlash
                    i += 1
                } else {
                    text.append(UInt8(ascii: "<"))
                    state = .anchorText
                }
            case .textLessThanSlash:
                if c | 0x20 == UInt8(ascii: "a") {
                    endAnchor()
                    state = .outside
                    i += 1
                } else {
                    text.append(contentsOf: [UInt8(ascii: "<"), UInt8(ascii: "/")])
                    state = .anchorText
                }
            }
        }
    }

    /// The body ended: an anchor cut short still counts, with what it has.
    public mutating func finish() -> ProjectPage {
        switch state {
        case .attributeName, .afterAttributeName, .beforeValue, .quotedValue, .bareValue:
            endAttribute()
            endAnchor()
        case .beforeAttribute:
            endAnchor()
        case .anchorText, .textLessThan, .textLessThanSlash:
            if case .textLessThan = state { text.append(UInt8(ascii: "<")) }
            if case .textLessThanSlash = state { text.append(contentsOf: [UInt8(ascii: "<"), UInt8(ascii: "/")]) }
            endAnchor()
        case .outside, .lessThan, .lessThanA:
            break
        }
        state = .outside
        return ProjectPage(name: projectName, files: files)
    }

    private mutating func beginText() {
        text.removeAll(keepingCapacity: true)
        state = .anchorText
    }

    /// Keeps `name`=`value` if it is an attribute a file link uses; then the next attribute.
    private mutating func endAttribute() {
        state = .beforeAttribute
        let lowered = name.map { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 }
        guard let attribute = Attribute.named(lowered) else { return }
        attributes[attribute.rawValue] = HTMLEscaping.unescape(String(decoding: value, as: UTF8.self))
    }

    private mutating func endAnchor() {
        guard let href = attributes[Attribute.href.rawValue], let (url, fragmentHash) = resolver.resolve(href) else { return }
        var filename = HTMLEscaping.unescape(String(decoding: text, as: UTF8.self)).trimmingCharacters(in: " \t\r\n")
        if filename.isEmpty { filename = String(url.split(separator: "/").last ?? "") }
        let metadata = attributes[Attribute.coreMetadata.rawValue] ?? attributes[Attribute.distInfoMetadata.rawValue]
        files.append(DistributionFile(
            filename: filename, url: url, sha256: fragmentHash?.lowercased(),
            requiresPython: attributes[Attribute.requiresPython.rawValue],
            yanked: attributes[Attribute.yanked.rawValue],
            coreMetadata: metadata.flatMap(UpstreamPageParser.metadataHash)))
    }

    private func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 || c == 12 }
}
