// Logger, Terminal and Text live in Support (domain code imports that, not the reactor).
// Re-exported for code that still reaches them through Reactor.
@_exported import Support
