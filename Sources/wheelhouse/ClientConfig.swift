import ArgumentParser

/// Where clients reach the server, shared by `pip-conf` and `uv-conf`.
struct ClientAddress: ParsableArguments {
    @Option(help: "Host name clients use to reach wheelhouse (e.g. the compose service name).")
    var host = "localhost"

    @Option(help: "Port wheelhouse listens on.")
    var port = 3141

    @Option(help: "http, or https behind a TLS proxy.")
    var scheme = "http"

    func validate() throws {
        guard ["http", "https"].contains(scheme) else { throw ValidationError("scheme must be http or https") }
        guard (1...65535).contains(port) else { throw ValidationError("port must be 1-65535") }
        guard !host.isEmpty, !host.contains(where: { " /\"'".contains($0) }) else { throw ValidationError("'\(host)' is not a host name") }
    }

    var indexURL: String { "\(scheme)://\(hostForURL):\(port)/root/pypi/+simple/" }

    private var hostForURL: String { host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host }

    /// pip refuses plain HTTP to any host but localhost unless it is trusted.
    var needsTrustedHost: Bool {
        scheme == "http" && !["localhost", "127.0.0.1", "::1", "[::1]"].contains(host.lowercased())
    }
}

struct PipConf: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pip-conf",
        abstract: "Print a pip.conf that points pip at wheelhouse.",
        discussion: "Save it as /etc/pip.conf (or ~/.config/pip/pip.conf) in each container; delete it to go back to PyPI.")

    @OptionGroup var address: ClientAddress

    func run() {
        var out = "[global]\nindex-url = \(address.indexURL)\n"
        if address.needsTrustedHost { out += "trusted-host = \(address.host)\n" }
        print(out, terminator: "")
    }
}

struct UvConf: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uv-conf",
        abstract: "Print a uv.toml index entry (or the pyproject.toml form) that points uv at wheelhouse.")

    @OptionGroup var address: ClientAddress

    @Flag(help: "Print the [[tool.uv.index]] form for pyproject.toml instead of uv.toml.")
    var pyproject = false

    func run() {
        let table = pyproject ? "[[tool.uv.index]]" : "[[index]]"
        let file = pyproject ? "pyproject.toml" : "uv.toml (e.g. ~/.config/uv/uv.toml or /etc/uv/uv.toml)"
        print("# \(file): use wheelhouse instead of PyPI\n\(table)\nname = \"wheelhouse\"\nurl = \"\(address.indexURL)\"\ndefault = true")
    }
}
