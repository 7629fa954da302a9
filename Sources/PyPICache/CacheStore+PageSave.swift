import Reactor

/// A big page written to disk a slice of files per loop iteration (PageCache steps it), so
/// that storing a page of 100,000 files (~35 MB) never holds the loop for the whole encode
/// and write. Holds the page it writes (the same value the index holds, not a copy) and one
/// slice's bytes at a time; the content tag is summed as the slices go and written into the
/// head last, then the temp file is renamed into place: until then the old page (if any)
/// stays on disk whole, and a crash leaves only a temp file (emptied at start-up).
///
/// While a save is under way the store answers for the page from it: `loadPage` gives the
/// page being saved, `storedPageBytes` and `storedPageHead` nothing (so the page is not read
/// in its old form, and no rendered body is kept for a state not yet on disk).
final class PageSave {
    let name: ProjectName
    let page: ProjectPage
    private let temp: TempFile
    private var encoder = PageCodec.Encoder()
    private var next = 0

    fileprivate init(name: ProjectName, page: ProjectPage, temp: TempFile) throws {
        self.name = name
        self.page = page
        self.temp = temp
        try write(encoder.begin(page))
    }

    var isDone: Bool { next >= page.files.count }

    /// Writes up to `maxFiles` more files.
    func step(maxFiles: Int) throws {
        let end = next + min(max(1, maxFiles), page.files.count - next)
        try write(encoder.files(page, next..<end))
        next = end
    }

    fileprivate func finish(as path: String) throws {
        precondition(isDone, "a page save finished before its last file")
        try encoder.contentTag.withUnsafeBytes { try Files.writeAll(temp.fd, $0, at: PageCodec.headSize - 16) }
        try Files.rename(temp.path, to: path)
    }

    fileprivate func discard() { Files.remove(temp.path) }

    private func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try Files.writeAll(temp.fd, $0) } }
}

extension CacheStore {
    /// Pages with more files than this are saved a slice at a time; smaller ones at once.
    static let savedInSlicesAbove = 10_000
    static let savedFilesPerSlice = 5_000

    /// Begins saving `page` (replacing a save of the same project still under way).
    func startSavingPage(_ page: ProjectPage, as name: ProjectName) throws -> PageSave {
        abandonSavingPage(name)
        let save = try PageSave(name: name, page: page, temp: createTemp())
        pendingSaves[name] = save
        return save
    }

    /// True while `save` is the one under way for its project (not replaced nor abandoned).
    func isCurrent(_ save: PageSave) -> Bool { pendingSaves[save.name] === save }

    /// Puts a finished save in place of the stored page.
    func finishSavingPage(_ save: PageSave) throws {
        guard isCurrent(save) else { return }
        pendingSaves.removeValue(forKey: save.name)
        do {
            try save.finish(as: pagePath(save.name))
        } catch {
            save.discard()
            throw error
        }
        Files.remove(legacyPagePath(save.name))
    }

    /// Drops a save under way for the project, if any (the stored page stays as it was).
    func abandonSavingPage(_ name: ProjectName) {
        pendingSaves.removeValue(forKey: name)?.discard()
    }

    /// The page being saved for the project, if a save is under way.
    func pageBeingSaved(_ name: ProjectName) -> ProjectPage? { pendingSaves[name]?.page }
    var savesInProgress: [PageSave] { Array(pendingSaves.values) }
}
