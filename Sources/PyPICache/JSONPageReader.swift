/// Reads a PEP 691 JSON project page incrementally, chunk by chunk as upstream sends it,
/// in one pass and without holding the body: a page of 100,000 files (45 MB) parsed by
/// a general decoder stalled the event loop for seconds and held the body, a parsed
/// tree and the result at once. Work per `feed` is bounded by the chunk's size.
///
/// This file is the byte-level half (JSON syntax, states that survive a chunk
/// boundary anywhere, even inside a `\uXXXX` escape); JSONPageReader+Page.swift gives
/// the values their meaning. Like the decoder it replaces, it fails the page only for
/// broken structure; an odd value (a bad escape, a lone surrogate, a number where a
/// string belongs) only makes that one field absent.
public struct JSONPageReader {
    /// Where the reader is between bytes.
    enum State {
        /// A value must start here (after ':' or ',' in an array, or at the start).
        case value
        /// Just after '[': a value or ']'.
        case firstValueOrEnd
        /// Just after '{': a key or '}'.
        case firstKeyOrEnd
        /// After ',' in an object: a key.
        case key
        /// After a key: ':'.
        case colon
        /// After a value inside a container: ',' or the container's end.
        case commaOrEnd
        /// Inside a string (a key when `stringIsKey`).
        case string
        /// After a backslash inside a string.
        case escape
        /// Inside `\uXXXX`: `digits` read so far, their value.
        case unicode(digits: Int, value: UInt32)
        /// Inside a number: its bytes go to `text` when the slot needs them.
        case number
        /// Inside `true`, `false` or `null`: how many bytes matched.
        case literal(Literal, matched: Int)
        /// After the root value: only whitespace may follow.
        case trailer
        case failed
    }

    enum Literal {
        case `true`, `false`, null
        var bytes: StaticString {
            switch self {
            case .true: "true"
            case .false: "false"
            case .null: "null"
            }
        }
    }

    /// The scalar that just ended, handed to the page half.
    enum Scalar {
        case string(valid: Bool)
        case number
        case `true`, `false`, null
    }

    /// JSONDecoder's limit; the stack is explicit, so this only bounds memory.
    static let maxDepth = 512

    var state = State.value
    /// Bytes of the current string (unescaped) or number, when they are kept.
    var text: [UInt8] = []
    var stringIsKey = false
    var keepText = false
    /// False once the current string has an unusable escape, control byte or lone surrogate.
    var stringValid = true
    /// A high surrogate waiting for its low half (`\uD83D\uDE00`).
    var pendingHighSurrogate: UInt32?
    var bytesRead = 0
    /// Why the page was refused (syntax); set once, then input is ignored.
    var syntaxError: String?
    /// File entries kept so far.
    var fileCount: Int { page.files.count }

    // The page half's state (JSONPageReader+Page.swift).
    var containers: [Container] = []
    var slot = Slot.root
    var page: PageFields
    var entry = EntryFields()

    public init(baseURL: String, project: ProjectName) {
        page = PageFields(name: project.normalized, resolver: UpstreamURLResolver(base: baseURL))
    }

    public mutating func feed(_ chunk: UnsafeRawBufferPointer) {
        chunk.withMemoryRebound(to: UInt8.self) { feed(bytes: $0) }
    }

    private mutating func feed(bytes b: UnsafeBufferPointer<UInt8>) {
        var i = 0
        let n = b.count
        defer { bytesRead += n }
        while i < n {
            switch state {
            case .failed:
                return
            case .value, .firstValueOrEnd:
                let c = b[i]
                if isSpace(c) { i += 1; continue }
                if c == UInt8(ascii: "]"), case .firstValueOrEnd = state {
                    i += 1
                    endContainer()
                    continue
                }
                i += 1
                beginValue(c, at: bytesRead + i - 1)
            case .firstKeyOrEnd, .key:
                let c = b[i]
                if isSpace(c) { i += 1; continue }
                i += 1
                if c == UInt8(ascii: "\"") {
                    beginString(isKey: true)
                } else if c == UInt8(ascii: "}"), case .firstKeyOrEnd = state {
                    endContainer()
                } else {
                    fail("expected a key", at: bytesRead + i - 1)
                }
            case .colon:
                let c = b[i]
                if isSpace(c) { i += 1; continue }
                i += 1
                if c == UInt8(ascii: ":") { state = .value } else { fail("expected ':'", at: bytesRead + i - 1) }
            case .commaOrEnd:
                let c = b[i]
                if isSpace(c) { i += 1; continue }
                i += 1
                let inObject = containers.last?.isObject ?? false
                if c == UInt8(ascii: ",") {
                    if inObject { state = .key } else { state = .value; slot = elementSlot() }
                } else if c == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    endContainer()
                } else {
                    fail("expected ',' or the end of \(inObject ? "an object" : "an array")", at: bytesRead + i - 1)
                }
            case .trailer:
                if isSpace(b[i]) { i += 1 } else { fail("unexpected data after the page", at: bytesRead + i) }
            case .string:
                i = scanString(b, from: i)
            case .escape:
                readEscape(b[i])
                i += 1
            case .unicode(let digits, let value):
                guard let digit = hexValue(b[i]) else {
                    // Not an escape after all: that string is unusable; read the byte as string content.
                    stringValid = false
                    state = .string
                    continue
                }
                i += 1
                if digits < 3 {
                    state = .unicode(digits: digits + 1, value: value << 4 | digit)
                } else {
                    state = .string
                    appendCodeUnit(value << 4 | digit)
                }
            case .number:
                let start = i
                while i < n, isNumberByte(b[i]) { i += 1 }
                if keepText { text.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i])) }
                if i < n { endScalar(.number) }
            case .literal(let literal, let matched):
                let expected = literal.bytes
                if b[i] != expected.utf8Start[matched] { fail("invalid literal", at: bytesRead + i); continue }
                i += 1
                if matched + 1 == expected.utf8CodeUnitCount {
                    endScalar(literal == .true ? .true : literal == .false ? .false : .null)
                } else {
                    state = .literal(literal, matched: matched + 1)
                }
            }
        }
    }

    /// The body ended: a number may end with it; anything else unfinished is a truncated page.
    mutating func finishSyntax() {
        if case .number = state { endScalar(.number) }
        switch state {
        case .trailer, .failed: break
        default: fail("the page ends early", at: bytesRead)
        }
    }

    private mutating func beginValue(_ c: UInt8, at offset: Int) {
        switch c {
        case UInt8(ascii: "\""): beginString(isKey: false)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard containers.count < JSONPageReader.maxDepth else { return fail("nested too deeply", at: offset) }
            let isObject = c == UInt8(ascii: "{")
            beginContainer(isObject: isObject)
            guard syntaxError == nil else { return }
            state = isObject ? .firstKeyOrEnd : .firstValueOrEnd
            if !isObject { slot = elementSlot() }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            keepText = slotKeepsNumber
            text.removeAll(keepingCapacity: true)
            if keepText { text.append(c) }
            state = .number
        case UInt8(ascii: "t"): state = .literal(.true, matched: 1)
        case UInt8(ascii: "f"): state = .literal(.false, matched: 1)
        case UInt8(ascii: "n"): state = .literal(.null, matched: 1)
        default: fail("expected a value", at: offset)
        }
    }

    private mutating func beginString(isKey: Bool) {
        stringIsKey = isKey
        keepText = isKey || slotKeepsString
        stringValid = true
        pendingHighSurrogate = nil
        text.removeAll(keepingCapacity: true)
        state = .string
    }

    /// The hot loop: plain string bytes are copied (or skipped) a run at a time.
    private mutating func scanString(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var i = start
        let n = b.count
        if pendingHighSurrogate != nil, b[i] != UInt8(ascii: "\\") { loseSurrogate() }
        while i < n {
            let c = b[i]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 { break }
            i += 1
        }
        if keepText, i > start { text.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i])) }
        guard i < n else { return i }
        let c = b[i]
        if c == UInt8(ascii: "\"") {
            if pendingHighSurrogate != nil { loseSurrogate() }
            if stringIsKey { endKey() } else { endScalar(.string(valid: stringValid)) }
        } else if c == UInt8(ascii: "\\") {
            state = .escape
        } else {
            stringValid = false  // a raw control byte: JSON requires it escaped
        }
        return i + 1
    }

    private mutating func readEscape(_ c: UInt8) {
        state = .string
        if c == UInt8(ascii: "u") { state = .unicode(digits: 0, value: 0); return }
        if pendingHighSurrogate != nil { loseSurrogate() }
        let decoded: UInt8
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded = c
        case UInt8(ascii: "b"): decoded = 0x08
        case UInt8(ascii: "f"): decoded = 0x0C
        case UInt8(ascii: "n"): decoded = 0x0A
        case UInt8(ascii: "r"): decoded = 0x0D
        case UInt8(ascii: "t"): decoded = 0x09
        default:
            stringValid = false
            return
        }
        if keepText { text.append(decoded) }
    }

    /// One `\uXXXX` code unit: pairs surrogates, appends the scalar as UTF-8.
    private mutating func appendCodeUnit(_ unit: UInt32) {
        var scalarValue = unit
        if let high = pendingHighSurrogate {
            pendingHighSurrogate = nil
            guard (0xDC00...0xDFFF).contains(unit) else {
                stringValid = false
                if (0xD800...0xDBFF).contains(unit) { pendingHighSurrogate = unit }
                return
            }
            scalarValue = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00)
        } else if (0xD800...0xDBFF).contains(unit) {
            pendingHighSurrogate = unit
            return
        } else if (0xDC00...0xDFFF).contains(unit) {
            stringValid = false
            return
        }
        guard keepText, let scalar = Unicode.Scalar(scalarValue) else { return }
        UTF8.encode(scalar) { text.append($0) }
    }

    private mutating func loseSurrogate() {
        pendingHighSurrogate = nil
        stringValid = false
    }

    /// A scalar value ended: give it its meaning, then expect what follows a value.
    private mutating func endScalar(_ scalar: Scalar) {
        state = containers.isEmpty ? .trailer : .commaOrEnd
        take(scalar)
    }

    private mutating func endKey() {
        state = .colon
        takeKey(valid: stringValid)
    }

    private mutating func endContainer() {
        state = containers.count <= 1 ? .trailer : .commaOrEnd
        closeContainer()
    }

    mutating func fail(_ why: String, at offset: Int) {
        guard syntaxError == nil else { return }
        syntaxError = "\(why) at byte \(offset)"
        state = .failed
    }

    private func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    private func isNumberByte(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
            || c == UInt8(ascii: "+") || c == UInt8(ascii: "-")
    }

    private func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case 48...57: UInt32(c - 48)
        case 97...102: UInt32(c - 87)
        case 65...70: UInt32(c - 55)
        default: nil
        }
    }
}
