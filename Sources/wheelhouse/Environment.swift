import ArgumentParser
import Glibc

/// Every option can also come from a `WHEELHOUSE_*` environment variable
/// (the command line wins), which is how a compose file configures a container.
enum Environment {
    static func value<T>(_ cli: T?, _ variable: String, default fallback: T, parse: (String) -> T?) throws -> T {
        if let cli { return cli }
        guard let raw = getenv(variable).map({ String(cString: $0) }), !raw.isEmpty else { return fallback }
        guard let parsed = parse(raw) else {
            throw ValidationError("invalid value '\(raw)' in environment variable \(variable)")
        }
        return parsed
    }
}
