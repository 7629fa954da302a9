import Reactor
import Support

/// Reading and writing stored pages without stalling the loop: a big page is decoded from
/// disk a slice of files per loop iteration (`PageLoad`), every request for it waiting for
/// that one read, and a big fetched page is written a slice per iteration (`PageSave`).
extension PageCache {
    /// Stores a fetched page: a big one a slice per loop iteration (the store answers for it
    /// from the save meanwhile), others at once. The shared bucket hears of it once on disk.
    func save(_ page: ProjectPage, as name: ProjectName) {
        guard let local = store as? CacheStore, page.files.count > CacheStore.savedInSlicesAbove, !shuttingDown else {
            do {
                try store.savePage(page, as: name)
                saved(name)
            } catch {
                saveFailed(name, error)
            }
            return
        }
        do {
            let save = try local.startSavingPage(page, as: name)
            loop.execute { [weak self] in self?.stepSave(save, in: local) }
        } catch {
            saveFailed(name, error)
        }
    }

    private func stepSave(_ save: PageSave, in local: CacheStore) {
        guard !shuttingDown, local.isCurrent(save) else { return }  // replaced, or finished by shutdown
        do {
            try save.step(maxFiles: CacheStore.savedFilesPerSlice)
            guard save.isDone else {
                loop.execute { [weak self] in self?.stepSave(save, in: local) }
                return
            }
            try local.finishSavingPage(save)
            saved(save.name)
        } catch {
            local.abandonSavingPage(save.name)
            saveFailed(save.name, error)
        }
    }

    /// Shutdown: saves under way are written out in this turn.
    func finishSavesNow() {
        guard let local = store as? CacheStore else { return }
        for save in local.savesInProgress {
            do {
                while !save.isDone { try save.step(maxFiles: Int.max) }
                try local.finishSavingPage(save)
                unsavedPages.remove(save.name)
                pageSaveEnded(save.name, written: true)
            } catch {
                local.abandonSavingPage(save.name)
                saveFailed(save.name, error)
            }
        }
    }

    private func saved(_ name: ProjectName) {
        unsavedPages.remove(name)
        pageSaveEnded(name, written: true)
        shared?.pageStored(name)
    }

    private func saveFailed(_ name: ProjectName, _ error: Error) {
        unsavedPages.insert(name)
        pageSaveEnded(name, written: false)
        logger.error("page_store_failed", ["project": name.normalized, "error": "\(error)"])
    }

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
