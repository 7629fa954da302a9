/// The parts of a remote zip archive (a wheel on upstream) fetched so far by ranged GETs,
/// and what to fetch next to read its `*.dist-info/METADATA`. Pure: no I/O. ZipReader
/// does the parsing over the bytes held; a read of bytes not held yet stops it with
/// `Missing`, which becomes the next range to ask for (`nextStep`), and the parse runs
/// again once they arrived. Parsing is cheap next to a round trip, so re-running it
/// keeps one zip parser instead of a second, resumable one.
struct RemoteZip {
    /// A read ZipReader made of bytes not held yet.
    struct Missing: Error, Equatable {
        let offset: Int
        let count: Int
    }

    enum Step: Equatable {
        /// Fetch bytes [first, last] (inclusive, as in a Range header), then ask again.
        case fetch(first: Int, last: Int)
        /// The METADATA member, inflated and CRC-checked.
        case metadata([UInt8])
    }

    /// The archive's total size (from upstream's Content-Range).
    let size: Int
    /// Held byte runs, sorted by offset, never overlapping nor touching (merged on add).
    private(set) var runs: [(offset: Int, bytes: [UInt8])] = []
    /// Bytes held, the measure the caller bounds.
    var heldBytes: Int { runs.reduce(0) { $0 + $1.bytes.count } }
    /// Slack fetched past a member's declared data, for a local header whose extra field
    /// is longer than the central directory's (it may differ): one round trip, not two.
    static let memberSlack = 1024

    init(size: Int) {
        self.size = size
    }

    /// Stores bytes at `offset` (clipped to the archive), merging with what is held.
    mutating func add(_ bytes: [UInt8], at offset: Int) {
        guard offset >= 0, offset < size, !bytes.isEmpty else { return }
        var start = offset
        var merged = Array(bytes.prefix(size - offset))
        var kept: [(offset: Int, bytes: [UInt8])] = []
        for run in runs {
            let runEnd = run.offset + run.bytes.count, end = start + merged.count
            if runEnd < start || run.offset > end {
                kept.append(run)
                continue
            }
            // Overlapping or touching: one run covering both (new bytes win where they overlap).
            if run.offset < start {
                merged = Array(run.bytes[0..<(start - run.offset)]) + merged
                start = run.offset
            }
            if runEnd > start + merged.count {
                merged += run.bytes[(start + merged.count - run.offset)...]
            }
        }
        kept.append((start, merged))
        runs = kept.sorted { $0.offset < $1.offset }
    }

    /// `count` bytes at `offset`, or `Missing` when they are not all held.
    func read(_ offset: Int, _ count: Int) throws -> [UInt8] {
        let wanted = max(0, min(count, size - offset))
        guard offset >= 0, offset <= size else { return [] }
        if wanted == 0 { return [] }
        for run in runs where run.offset <= offset && offset + wanted <= run.offset + run.bytes.count {
            return Array(run.bytes[(offset - run.offset)..<(offset - run.offset + wanted)])
        }
        throw Missing(offset: offset, count: wanted)
    }

    /// Whether every byte of [offset, offset + count) is held.
    func holds(_ offset: Int, _ count: Int) -> Bool {
        (try? read(offset, count)) != nil
    }

    /// What to do next: fetch a range, or done. Throws `ZipReader.Failure` for a
    /// malformed archive (or one whose METADATA is over `limit`).
    func nextStep(limit: Int = 16 << 20) throws -> Step {
        let reader = ZipReader(size: size) { offset, count in try read(offset, count) }
        do {
            let entry = try reader.wheelMetadataEntry()
            // The member's local header, name, data and some slack in one fetch.
            let end = min(size, entry.localHeaderOffset + 30 + entry.name.utf8.count + entry.compressedSize + RemoteZip.memberSlack)
            if entry.localHeaderOffset >= 0, entry.localHeaderOffset < end, entry.compressedSize <= max(limit, 1 << 20),
               !holds(entry.localHeaderOffset, end - entry.localHeaderOffset) {
                return gap(entry.localHeaderOffset, end - entry.localHeaderOffset)
            }
            return .metadata(try reader.contents(of: entry, limit: limit))
        } catch let missing as Missing {
            return gap(missing.offset, missing.count)
        }
    }

    /// The part of [offset, offset + count) not held, trimmed of held bytes at either end.
    private func gap(_ offset: Int, _ count: Int) -> Step {
        var first = offset, last = offset + count - 1
        while let run = runs.first(where: { $0.offset <= first && first < $0.offset + $0.bytes.count }), first <= last {
            first = run.offset + run.bytes.count
        }
        while let run = runs.first(where: { $0.offset <= last && last < $0.offset + $0.bytes.count }), first <= last {
            last = run.offset - 1
        }
        return .fetch(first: first, last: max(first, last))
    }
}
