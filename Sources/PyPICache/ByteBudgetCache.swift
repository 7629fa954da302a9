/// A least-recently-used cache bounded by bytes: each entry says what it costs, and
/// inserting past the budget drops the least recently used entries until it fits.
/// An entry larger than the whole budget is not kept (the caller still has it).
/// Lookups and inserts are O(1): entries sit in a doubly linked list threaded
/// through arrays by slot number (no per-entry allocation besides the value).
struct ByteBudgetCache<Key: Hashable, Value> {
    private struct Entry {
        var key: Key
        var value: Value
        var cost: Int
        var newer: Int  // slot of the next more recently used entry, or -1
        var older: Int  // slot of the next less recently used entry, or -1
    }

    let budgetBytes: Int
    private(set) var totalBytes = 0
    private var slots: [Entry?] = []
    private var freeSlots: [Int] = []
    private var slotOf: [Key: Int] = [:]
    private var newest = -1
    private var oldest = -1

    init(budgetBytes: Int) { self.budgetBytes = max(0, budgetBytes) }

    var count: Int { slotOf.count }

    /// The value, marked as just used.
    mutating func get(_ key: Key) -> Value? {
        guard let slot = slotOf[key] else { return nil }
        moveToFront(slot)
        return slots[slot]!.value
    }

    /// The value without changing the order (for reports).
    func peek(_ key: Key) -> Value? { slotOf[key].map { slots[$0]!.value } }

    /// Keeps `value` as the most recently used, evicting the least recently used
    /// entries while the total passes the budget. False: too big to keep at all.
    @discardableResult
    mutating func put(_ key: Key, _ value: Value, cost: Int) -> Bool {
        remove(key)
        guard cost <= budgetBytes else { return false }
        while totalBytes + cost > budgetBytes, oldest >= 0 { remove(slots[oldest]!.key) }
        let entry = Entry(key: key, value: value, cost: cost, newer: -1, older: newest)
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot] = entry
        } else {
            slot = slots.count
            slots.append(entry)
        }
        if newest >= 0 { slots[newest]!.newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
        slotOf[key] = slot
        totalBytes += cost
        return true
    }

    @discardableResult
    mutating func remove(_ key: Key) -> Value? {
        guard let slot = slotOf.removeValue(forKey: key), let entry = slots[slot] else { return nil }
        unlink(slot)
        slots[slot] = nil
        freeSlots.append(slot)
        totalBytes -= entry.cost
        return entry.value
    }

    mutating func removeAll() {
        slots.removeAll()
        freeSlots.removeAll()
        slotOf.removeAll()
        newest = -1
        oldest = -1
        totalBytes = 0
    }

    private mutating func moveToFront(_ slot: Int) {
        guard slot != newest else { return }
        unlink(slot)
        slots[slot]!.older = newest
        slots[slot]!.newer = -1
        if newest >= 0 { slots[newest]!.newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }

    private mutating func unlink(_ slot: Int) {
        let entry = slots[slot]!
        if entry.newer >= 0 { slots[entry.newer]!.older = entry.older } else { newest = entry.older }
        if entry.older >= 0 { slots[entry.older]!.newer = entry.newer } else { oldest = entry.newer }
    }
}
