// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "neuromod",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "neuromod", targets: ["neuromod"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries (Debian: libsqlite3-dev, libopenblas-dev, zlib1g-dev).
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // epoll and a few POSIX helpers the Glibc overlay does not expose.
        .target(name: "CSystemShims", path: "Sources/CSystemShims"),

        // Pure HTTP/1.1 codec: values, incremental parser, serializer. No sockets.
        .target(name: "HTTP"),
        // Socket server: event loop, connections, limits, graceful shutdown.
        .target(name: "HTTPServer", dependencies: ["HTTP", "CSystemShims"]),
        // SQLite access: connections, statements, migrations, repositories.
        .target(name: "Storage", dependencies: ["CSQLite"]),
        // Neuromodulation engine: tensors, models, datasets, trainer, checkpoints.
        .target(name: "Engine", dependencies: ["CBLAS", "CZlib"]),
        // Worker queue: joins Engine and Storage.
        .target(name: "Jobs", dependencies: ["Engine", "Storage"]),
        // /v1 routes and handlers.
        .target(name: "API", dependencies: ["HTTP", "Storage", "Jobs", "Engine"]),
        .executableTarget(name: "neuromod", dependencies: [
            "API", "HTTPServer", "Jobs", "Storage", "Engine",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "HTTPTests", dependencies: ["HTTP"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        .testTarget(name: "ServiceTests", dependencies: ["API", "HTTPServer", "HTTP", "Jobs", "Storage", "Engine", "neuromod"]),
    ]
)
