import FoundationEssentials

/// Where the cache policy reads the time of day (seconds since the epoch): page age,
/// negative-cache expiry, the breaker's probe times. Injected so tests can move time.
public protocol WallClock: AnyObject {
    var now: Double { get }
}

/// The real clock.
public final class SystemClock: WallClock {
    public init() {}
    public var now: Double { Date().timeIntervalSince1970 }
}

/// A clock that moves only when told: for tests of the cache policy.
public final class ManualClock: WallClock {
    public var now: Double
    public init(now: Double = 1_000_000) { self.now = now }
    public func advance(by seconds: Double) { now += seconds }
}
