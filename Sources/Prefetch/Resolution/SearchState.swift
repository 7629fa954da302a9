import PyPICache

/// The resolver's search state, changed in place, with an undo log per decision.
/// Copying the whole state for every decision (as resolvelib's states do) costs
/// O(decisions × projects) memory: 300 pins held 35 MB that way. Here each level
/// records only what it changed (old values), so backtracking restores the level
/// below exactly, and memory grows with what was decided, not with its square.
struct SearchState {
    struct State {
        var pins: [ProjectName: Pin] = [:]
        var criteria: [ProjectName: Criterion] = [:]
        /// Projects in the order they were first required: iteration is deterministic.
        var order: [ProjectName] = []
        /// Projects that could not be looked at, and why.
        var holes: [ProjectName: String] = [:]
    }

    private enum Change {
        case pin(ProjectName, Pin?)
        case criterion(ProjectName, Criterion?)
        case hole(ProjectName, String?)
        case order(Int)
    }

    /// One decision: the version pinned to open it, and how to undo it and what followed.
    private struct Level {
        let decision: (name: ProjectName, version: Version)?
        var undo: [Change] = []
    }

    private(set) var state = State()
    private var levels = [Level(decision: nil)]

    /// Decisions that can still be taken back.
    var depth: Int { levels.count - 1 }

    mutating func setPin(_ name: ProjectName, _ pin: Pin?) {
        log(.pin(name, state.pins[name]))
        state.pins[name] = pin
    }

    mutating func setHole(_ name: ProjectName, _ why: String) {
        log(.hole(name, state.holes[name]))
        state.holes[name] = why
    }

    mutating func updateCriterion(_ name: ProjectName, _ change: (inout Criterion) -> Void) {
        if state.criteria[name] == nil {
            log(.order(state.order.count))
            state.order.append(name)
        }
        log(.criterion(name, state.criteria[name]))
        change(&state.criteria[name, default: Criterion()])
    }

    mutating func add(_ demand: Demand) {
        updateCriterion(demand.requirement.name) { $0.demands.append(demand) }
    }

    /// Opens a level for a decision (the changes that follow belong to it).
    mutating func decide(_ name: ProjectName, _ version: Version) {
        levels.append(Level(decision: (name, version)))
    }

    /// Undoes the newest decision and everything after it; returns what it was,
    /// or nil when there is none left (the root's changes are never undone).
    mutating func undoDecision() -> (name: ProjectName, version: Version)? {
        guard levels.count > 1 else { return nil }
        let level = levels.removeLast()
        for change in level.undo.reversed() {
            switch change {
            case .pin(let name, let old): state.pins[name] = old
            case .criterion(let name, let old): state.criteria[name] = old
            case .hole(let name, let old): state.holes[name] = old
            case .order(let count): state.order.removeSubrange(count...)
            }
        }
        return level.decision
    }

    private mutating func log(_ change: Change) {
        // The root is never undone: nothing to remember there.
        if levels.count > 1 { levels[levels.count - 1].undo.append(change) }
    }
}
