import ArgumentParser
import Glibc

/// Every option can also come from a `WHEELHOUSE_*` environment variable
/// (the command line wins), which is how a compose file configures a container.
struct Environment {
    let prefix = "WHEELHOUSE_"

    func value<T>(_ cli: T?, _ name: String, default fallback: T, parse: (String) -> T?) throws -> T {
        if let cli { return cli }
        let variable = prefix + name
        guard let raw = getenv(variable).map({ String(cString: $0) }), !raw.isEmpty else { return fallback }
        guard let parsed = parse(raw) else {
            throw ValidationError("invalid value '\(raw)' in environment variable \(variable)")
        }
        return parsed
    }

    static func bool(_ raw: String) -> Bool? {
        switch raw.lowercased() {
        case "1", "true", "yes", "on": true
        case "0", "false", "no", "off": false
        default: nil
        }
    }
}
