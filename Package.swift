// swift-tools-version: 6.0
// wheelhouse: a caching PyPI proxy. Layers depend one way only (see docs/architecture.md):
//   wheelhouse (CLI) -> Prefetch (requirements, PEP 440/508/425) -> PyPICache (domain) -> HTTPServer, ObjectStore -> Upstream -> Reactor -> C shims (CLinux, CCurl, CZlib)
//   Support (Logger, Terminal, Text) sits below all of them.
import PackageDescription

let package = Package(
    name: "wheelhouse",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "wheelhouse", targets: ["wheelhouse"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Thin C shims: only what Swift cannot see or call.
        .target(name: "CLinux"),
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "CZlib", linkerSettings: [.linkedLibrary("z")]),

        // Logging, terminal output, text helpers: no I/O loop, so PEP 440 code need not depend on epoll.
        .target(name: "Support"),
        .target(name: "Reactor", dependencies: ["CLinux", "Support"]),
        .target(name: "HTTPServer", dependencies: ["Reactor", "Support"]),
        .target(name: "Upstream", dependencies: ["Reactor", "Support", "CCurl"]),
        // An S3-compatible object store on the reactor (SigV4 through libcurl): the shared tier's client.
        .target(name: "ObjectStore", dependencies: ["Upstream", "Reactor", "Support"]),
        .target(name: "PyPICache", dependencies: ["HTTPServer", "Upstream", "ObjectStore", "Reactor", "Support", "CZlib"]),
        .target(name: "Prefetch", dependencies: ["PyPICache", "HTTPServer", "Upstream", "Reactor", "Support", "CZlib"]),
        .executableTarget(name: "wheelhouse", dependencies: [
            "PyPICache",
            "Prefetch",
            "ObjectStore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "TestSupport"]),
        .testTarget(name: "ObjectStoreTests", dependencies: ["ObjectStore"]),
        .testTarget(name: "UpstreamTests", dependencies: ["Upstream", "HTTPServer", "Reactor", "CCurl"]),
        .testTarget(name: "PyPICacheTests", dependencies: ["PyPICache", "HTTPServer", "Upstream", "Reactor", "TestSupport"]),
        .testTarget(name: "PrefetchTests", dependencies: ["Prefetch", "PyPICache", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

// The fuzz target exists only for `make fuzz` (WHEELHOUSE_FUZZ=1): libFuzzer supplies
// its main, so an ordinary `swift build` must not see it.
if Context.environment["WHEELHOUSE_FUZZ"] != nil {
    package.targets.append(.executableTarget(name: "wheelhouse-fuzz", dependencies: ["HTTPServer", "Reactor"], path: "Fuzz/HTTPFuzz"))
}
