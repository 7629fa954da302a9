import Reactor

/// Files the size cap never evicts: those `wheelhouse prefetch` fetched for offline use
/// (it writes `<data-dir>/pins`, or the file given to its `--write-pins`) and those
/// listed in `--pins-file` files. One distribution filename a line, `#` starts a
/// comment; a pinned wheel's `.metadata` is pinned with it. Filenames, not paths: PyPI
/// filenames are unique, and a person can write them. Re-read when a file changes.
public final class Pins {
    private let paths: [String]
    private var filenames: Set<String> = []
    /// Each file's modification time when last read (nil entry: absent); nil: never read.
    private var readTimes: [Double?]?

    /// `paths`: the data directory's own pins file first, then `--pins-file` ones.
    init(paths: [String]) {
        self.paths = paths
        reloadIfChanged()
    }

    var count: Int { filenames.count }

    func isPinned(_ key: FileKey) -> Bool {
        filenames.contains((key.metadataSubject ?? key).filename)
    }

    /// One stat per file; reads them again only when one changed (prefetch wrote more).
    func reloadIfChanged() {
        let times = paths.map { Files.modificationTime($0) }
        if let readTimes, readTimes == times { return }
        readTimes = times
        var names: Set<String> = []
        for (path, time) in zip(paths, times) {
            guard time != nil, let bytes = try? Files.readAll(path, limit: 64 << 20) else { continue }
            names.formUnion(Pins.parse(String(decoding: bytes, as: UTF8.self)))
        }
        filenames = names
    }

    /// Adds `names` to the pins file at `path` (created if need be), written whole to a
    /// temp file beside it and renamed, so a server reading it never sees half a list.
    public static func add(_ names: Set<String>, to path: String) throws {
        var all = names
        if let bytes = try Files.readAll(path, limit: 64 << 20) { all.formUnion(parse(String(decoding: bytes, as: UTF8.self))) }
        let temp = "\(path).\(UInt64.random(in: 0...UInt64.max)).tmp"
        let fd = try Files.createNew(temp)
        do {
            try Array(render(all).utf8).withUnsafeBytes { try Files.writeAll(fd, $0) }
            try Files.rename(temp, to: path)
        } catch {
            Files.remove(temp)
            throw error
        }
    }

    /// The filenames a pins file lists.
    static func parse(_ text: String) -> Set<String> {
        var names: Set<String> = []
        for raw in text.utf8.split(separator: 10) {
            let line = String(decoding: raw, as: UTF8.self)
                .split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?.trimmingSpaces ?? ""
            if !line.isEmpty { names.insert(line) }
        }
        return names
    }

    /// The text of a pins file listing `names` (sorted, so it diffs well).
    static func render(_ names: Set<String>) -> String {
        "# Files wheelhouse's --max-cache-size never evicts (written by wheelhouse prefetch).\n"
            + names.sorted().map { $0 + "\n" }.joined()
    }
}
