/// A seeded generator (a 64-bit LCG) for random-input tests: every run sees the
/// same inputs, so a failure can be reproduced.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state
    }
}
