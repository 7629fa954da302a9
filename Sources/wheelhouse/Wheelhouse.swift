import ArgumentParser
import Glibc
import PyPICache
import Reactor

@main
struct Wheelhouse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wheelhouse",
        abstract: "A caching PyPI proxy: pip and uv install through it, online or offline.",
        version: PyPIProxy.version,
        subcommands: [Serve.self, PrefetchCommand.self, Gc.self, Purge.self, PipConf.self, UvConf.self, Healthcheck.self],
        defaultSubcommand: Serve.self)

    /// Usage errors (a bad option value, flag or environment variable) exit 2 with one
    /// line, as CLI tools do; everything else exits as ArgumentParser decides.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                Terminal.write("error: \(message(for: error))\n", fd: 2)
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }
}
