/// Keys in order of last use, oldest first, each with a value: `touch` (insert or move
/// to newest), `remove` and a walk from the oldest are O(1) per key. A doubly linked
/// list kept in one array (indices, not references), so a hit costs one dictionary
/// lookup and a few integer writes, and 100,000 keys allocate nothing per key.
struct RecencyList<Key: Hashable, Value> {
    private struct Node {
        var key: Key?
        var value: Value?
        var older = -1
        var newer = -1
    }

    private var nodes: [Node] = []
    private var slots: [Key: Int] = [:]
    private var freeSlots: [Int] = []
    private var oldest = -1
    private var newest = -1

    var count: Int { slots.count }
    func contains(_ key: Key) -> Bool { slots[key] != nil }
    func value(of key: Key) -> Value? { slots[key].flatMap { nodes[$0].value } }

    /// Makes `key` the most recently used, with `value`.
    mutating func touch(_ key: Key, value: Value) { touch(key) { _ in value } }

    /// Makes `key` the most recently used, its value made from the old one (nil: new key)
    /// with one dictionary lookup (the hit path calls this).
    mutating func touch(_ key: Key, _ newValue: (Value?) -> Value) {
        if let slot = slots[key] {
            nodes[slot].value = newValue(nodes[slot].value)
            guard slot != newest else { return }
            unlink(slot)
            linkNewest(slot)
            return
        }
        let slot: Int
        let value = newValue(nil)
        if let reused = freeSlots.popLast() {
            slot = reused
            nodes[slot] = Node(key: key, value: value)
        } else {
            slot = nodes.count
            nodes.append(Node(key: key, value: value))
        }
        slots[key] = slot
        linkNewest(slot)
    }

    mutating func remove(_ key: Key) {
        guard let slot = slots.removeValue(forKey: key) else { return }
        unlink(slot)
        nodes[slot] = Node()
        freeSlots.append(slot)
    }

    /// Keys from the least recently used, for as long as `body` returns true.
    func walkOldestFirst(_ body: (Key, Value) -> Bool) {
        var slot = oldest
        while slot >= 0, let key = nodes[slot].key, let value = nodes[slot].value {
            let next = nodes[slot].newer
            if !body(key, value) { return }
            slot = next
        }
    }

    private mutating func unlink(_ slot: Int) {
        let (older, newer) = (nodes[slot].older, nodes[slot].newer)
        if older >= 0 { nodes[older].newer = newer } else { oldest = newer }
        if newer >= 0 { nodes[newer].older = older } else { newest = older }
        nodes[slot].older = -1
        nodes[slot].newer = -1
    }

    private mutating func linkNewest(_ slot: Int) {
        nodes[slot].older = newest
        nodes[slot].newer = -1
        if newest >= 0 { nodes[newest].newer = slot } else { oldest = slot }
        newest = slot
    }
}
