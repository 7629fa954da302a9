/// A PEP 440 version, parsed leniently (normalizing spellings the way pip does)
/// and ordered as PEP 440 says: epoch, release, pre, post, dev, local.
public struct Version: Comparable, Hashable, Sendable, CustomStringConvertible {
    public let epoch: Int
    public let release: [Int]
    /// (0: a, 1: b, 2: rc, number)
    public let pre: (Int, Int)?
    public let post: Int?
    public let dev: Int?
    public let local: [String]
    public let description: String
    /// The ordering key, computed once: resolution compares versions millions of times.
    private let key: Key

    public var isPrerelease: Bool { pre != nil || dev != nil }

    /// The release padded with zeros to `count` components.
    func releasePadded(_ count: Int) -> [Int] { release + [Int](repeating: 0, count: max(0, count - release.count)) }

    public init?(_ text: some StringProtocol) {
        var s = Substring(text.lowercased().trimmingCharacters(in: " \t"))
        guard !s.isEmpty else { return nil }
        description = String(text)
        if s.first == "v" { s = s.dropFirst() }
        // Local part.
        var localParts: [String] = []
        if let plus = s.firstIndex(of: "+") {
            localParts = s[s.index(after: plus)...].split(whereSeparator: { "._-".contains($0) }).map(String.init)
            guard !localParts.isEmpty, localParts.allSatisfy({ $0.allSatisfy { $0.isLetter || $0.isNumber } }) else { return nil }
            s = s[..<plus]
        }
        local = localParts
        // Epoch.
        var e = 0
        if let bang = s.firstIndex(of: "!") {
            guard let n = Int(s[..<bang]) else { return nil }
            e = n
            s = s[s.index(after: bang)...]
        }
        epoch = e
        // Release.
        var rel: [Int] = []
        while true {
            let digits = s.prefix { $0.isNumber && $0.isASCII }
            guard !digits.isEmpty, let n = Int(digits) else { return nil }
            rel.append(n)
            s = s.dropFirst(digits.count)
            if s.first == ".", s.dropFirst().first?.isNumber == true { s = s.dropFirst(); continue }
            break
        }
        release = rel
        // Pre, post, dev, in that order, each optional.
        var preValue: (Int, Int)?
        var postValue: Int?
        var devValue: Int?
        func number() -> Int? {
            var t = s
            if let f = t.first, "._-".contains(f) { t = t.dropFirst() }
            let digits = t.prefix { $0.isNumber && $0.isASCII }
            guard !digits.isEmpty else { return nil }
            s = t.dropFirst(digits.count)
            return Int(digits)
        }
        var probe = s
        if let f = probe.first, "._-".contains(f) { probe = probe.dropFirst() }
        for (spellings, kind) in [(["alpha", "a"], 0), (["beta", "b"], 1), (["preview", "pre", "rc", "c"], 2)] {
            if let word = spellings.first(where: { probe.hasPrefix($0) }) {
                s = probe.dropFirst(word.count)
                preValue = (kind, number() ?? 0)
                break
            }
        }
        probe = s
        if let f = probe.first, "._-".contains(f) { probe = probe.dropFirst() }
        if let word = ["post", "rev", "r"].first(where: { probe.hasPrefix($0) }) {
            s = probe.dropFirst(word.count)
            postValue = number() ?? 0
        } else if s.first == "-", let n = number() {
            postValue = n  // "1.0-1" is 1.0.post1
        }
        probe = s
        if let f = probe.first, "._-".contains(f) { probe = probe.dropFirst() }
        if probe.hasPrefix("dev") {
            s = probe.dropFirst(3)
            devValue = number() ?? 0
        }
        guard s.isEmpty else { return nil }
        pre = preValue
        post = postValue
        dev = devValue
        key = Version.makeKey(epoch: epoch, release: release, pre: preValue, post: postValue, dev: devValue, local: local)
    }

    /// PEP 440 ordering, as packaging's _cmpkey builds it.
    private struct Key: Equatable, Sendable {
        let release: [Int]   // epoch first, trailing zeros dropped
        let ranks: (Double, Int, Double, Int, Double, Int)
        let local: [String]

        static func == (a: Key, b: Key) -> Bool { a.release == b.release && a.ranks == b.ranks && a.local == b.local }
    }

    private static func makeKey(epoch: Int, release: [Int], pre: (Int, Int)?, post: Int?, dev: Int?, local: [String]) -> Key {
        var rel = release
        while rel.count > 1 && rel.last == 0 { rel.removeLast() }
        // No pre but a dev release sorts before any pre; no pre at all sorts after every pre.
        let preRank: Double = pre.map { Double($0.0) } ?? (post == nil && dev != nil ? -.infinity : .infinity)
        let postRank: Double = post == nil ? -.infinity : 0
        let devRank: Double = dev == nil ? .infinity : 0
        return Key(release: [epoch] + rel, ranks: (preRank, pre?.1 ?? 0, postRank, post ?? 0, devRank, dev ?? 0), local: local)
    }

    public static func < (a: Version, b: Version) -> Bool {
        let x = a.key, y = b.key
        if x.release != y.release { return x.release.lexicographicallyPrecedes(y.release) }
        if x.ranks != y.ranks { return x.ranks < y.ranks }
        return localPrecedes(x.local, y.local)
    }

    /// Local segments: numbers sort after strings, shorter first when one is a prefix.
    private static func localPrecedes(_ a: [String], _ b: [String]) -> Bool {
        for (l, r) in zip(a, b) where l != r {
            switch (Int(l), Int(r)) {
            case let (x?, y?): return x < y
            case (nil, _?): return true
            case (_?, nil): return false
            default: return l < r
            }
        }
        return a.count < b.count
    }

    public static func == (a: Version, b: Version) -> Bool { a.key == b.key }

    public func hash(into hasher: inout Hasher) {
        var rel = release
        while rel.count > 1 && rel.last == 0 { rel.removeLast() }
        hasher.combine(epoch)
        hasher.combine(rel)
        hasher.combine(post)
        hasher.combine(dev)
        hasher.combine(local)
    }

    /// The same version without its local part.
    var publicVersion: Version {
        guard !local.isEmpty, let plus = description.firstIndex(of: "+"), let v = Version(description[..<plus]) else { return self }
        return v
    }
}
