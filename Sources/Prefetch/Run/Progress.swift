import Reactor

/// Progress on a terminal: one bar, redrawn at most ten times a second; plain
/// lines otherwise (logs, CI).
public final class Progress {
    private let tty: Bool
    private var lastDraw: UInt64 = 0
    private let started = EventLoop.now()
    private var drawn = false

    public init(tty: Bool = Terminal.isTTY(1)) { self.tty = tty }

    public func line(_ text: String) {
        if tty && drawn { Terminal.write("\r\u{1B}[K") }
        Terminal.write(text + "\n")
        drawn = false
    }

    func tick(done: Int, total: Int, bytes: Int, unit: String) {
        guard tty, total > 0 else { return }
        let now = EventLoop.now()
        guard now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        let width = 30, filled = min(width, done * width / max(total, 1))
        let seconds = max(0.001, Double(now - started) / 1e9)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        Terminal.write("\r\u{1B}[K[\(bar)] \(done)/\(total) \(unit)  \(Progress.format(bytes: bytes))  \(Progress.format(bytes: Int(Double(bytes) / seconds)))/s")
        drawn = true
    }

    func finish() {
        if tty && drawn { Terminal.write("\r\u{1B}[K") }
        drawn = false
    }

    public static func format(bytes: Int) -> String {
        let units = ["B", "kB", "MB", "GB"]
        var v = Double(bytes), u = 0
        while v >= 1000 && u < units.count - 1 { v /= 1000; u += 1 }
        return u == 0 ? "\(bytes) B" : "\(Int((v * 10).rounded()) / 10).\(Int((v * 10).rounded()) % 10) \(units[u])"
    }
}
