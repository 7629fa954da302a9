import Glibc

/// One line per event on stdout, `key=value` fields, filtered by level.
/// Writes with write(2): Swift 6 code cannot touch C's `stdout` global, and a
/// line-sized write is atomic enough for `docker compose logs -f`.
public final class Logger {
    public enum Level: Int, Comparable, Sendable, CaseIterable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public var name: String {
            switch self {
            case .debug: "debug"
            case .info: "info"
            case .warning: "warning"
            case .error: "error"
            }
        }
        public init?(name: String) {
            guard let level = Level.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
            self = level
        }
    }

    public var minimumLevel: Level
    private let fd: Int32

    /// `fd` 1 (stdout) for a server; a command that prints its own output logs to 2.
    public init(level: Level = .info, fd: Int32 = 1) {
        self.minimumLevel = level
        self.fd = fd
    }

    public func isEnabled(_ level: Level) -> Bool { level >= minimumLevel }

    public func log(_ level: Level, _ event: String, _ fields: KeyValuePairs<String, String> = [:]) {
        guard level >= minimumLevel else { return }
        write(level, event, fields)
    }

    /// For fields built at run time (the access log adds the responder's own).
    public func log(_ level: Level, _ event: String, fields: [(String, String)]) {
        guard level >= minimumLevel else { return }
        write(level, event, fields)
    }

    /// Start-up and shutdown lines: always written, whatever the level filter,
    /// so tools (and people) can see the server come and go.
    public func lifecycle(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) {
        write(.info, event, fields)
    }

    private func write(_ level: Level, _ event: String, _ fields: KeyValuePairs<String, String>) {
        write(level, event, fields.map { ($0.key, $0.value) })
    }

    private func write(_ level: Level, _ event: String, _ fields: [(String, String)]) {
        var line = "\(Logger.timestamp()) level=\(level.name) event=\(event)"
        for (key, value) in fields {
            line += " \(key)=\(Logger.quoted(value))"
        }
        line += "\n"
        Terminal.write(line, fd: fd)
    }

    public func info(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.info, event, fields) }
    public func warning(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.warning, event, fields) }
    public func error(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.error, event, fields) }
    public func debug(_ event: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.debug, event, fields) }

    /// Values with spaces, quotes or `=` are quoted so each line stays machine-readable.
    static func quoted(_ value: String) -> String {
        if !value.isEmpty && !value.utf8.contains(where: { $0 <= 0x20 || $0 == 0x22 || $0 == 0x3D || $0 == 0x7F }) {
            return value
        }
        var out = "\""
        for ch in value.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }

    /// UTC, ISO 8601 with milliseconds.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T"
            + "\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}
