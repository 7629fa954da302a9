import Reactor
import Support

/// Reading stored pages without stalling the loop: a big page is decoded from disk a slice
/// of files per loop iteration (`PageLoad`), and every request for it waits for that one read.
extension PageCache {
    /// A stored page: from memory, else from disk; a big one is decoded a slice per loop
    /// iteration (`PageCodec.Decoder`), every request for it waiting for the one read.
    func readStored(_ name: ProjectName, then use: @escaping (ProjectPage?) -> Void) {
        if let inMemory = index.page(name, load: { _ in nil }) { return use(inMemory) }
        if let running = loads[name] { return running.waiters.append(use) }
        // Another store, or an earlier version's form: read whole.
        guard !shuttingDown, let bytes = store.storedPageBytes(name) else { return use(stored(name)) }
        let load = PageLoad(name: name, decoder: PageCodec.Decoder(bytes))
        load.waiters.append(use)
        loads[name] = load
        stepLoad(load)  // a small page is read in this first step
    }

    private func stepLoad(_ load: PageLoad) {
        guard !shuttingDown else { return }
        let progress = load.decoder.step(maxFiles: PageLoad.filesPerSlice)
        if case .more = progress {
            loop.execute { [weak self] in self?.stepLoad(load) }
            return
        }
        let current = loads[load.name] === load
        if current { loads.removeValue(forKey: load.name) }
        var page: ProjectPage?
        if current, case .done(let read) = progress {
            page = index.page(load.name, load: { _ in read })  // now in memory, its files known
        } else if !current {
            page = stored(load.name)  // replaced while it was read: the page as it is now
        } else {
            logger.warning("stored_page_unreadable", ["project": load.name.normalized])
        }
        for waiter in load.waiters { waiter(page) }
    }
}
