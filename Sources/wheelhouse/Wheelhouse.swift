import ArgumentParser

@main
struct Wheelhouse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wheelhouse",
        abstract: "A caching PyPI proxy: pip and uv install through it, online or offline.",
        version: "0.1.0",
        subcommands: [Serve.self, PrefetchCommand.self, PipConf.self, UvConf.self, Healthcheck.self],
        defaultSubcommand: Serve.self)
}
