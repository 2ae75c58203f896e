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
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CPostgres", path: "Sources/CPostgres", providers: [.apt(["libpq-dev"])]),
        // epoll and a few POSIX helpers the Glibc overlay does not expose.
        .target(name: "CSystemShims", path: "Sources/CSystemShims"),

        // The spiking engine's hot kernels in C (event-driven products, fused LIF), compiled for
        // AVX-512, AVX2 and portable C and chosen at run time. No FMA contraction, so the three agree bit for bit.
        .target(name: "CSpikeKernels", path: "Sources/CSpikeKernels", cSettings: [.unsafeFlags(["-O2", "-ffp-contract=off"])]),

        // Arrays of JSON numbers read straight into float buffers (the prediction bodies' hot loop).
        .target(name: "CNumberParsing", path: "Sources/CNumberParsing"),

        // Pure HTTP/1.1 codec: values, incremental parser, serializer. No sockets.
        .target(name: "HTTP"),
        // Socket server: event loop, connections, limits, graceful shutdown.
        .target(name: "HTTPServer", dependencies: ["HTTP", "CSystemShims"]),
        // SQLite access: connections, statements, migrations, repositories.
        .target(name: "Storage", dependencies: ["CSQLite", "CPostgres"]),
        // JSON codec and SHA-256: support code shared by Engine, Storage users and API.
        .target(name: "Support", dependencies: ["CNumberParsing"]),
        // A blocking HTTP client over libcurl (the command-line client).
        .target(name: "RESTClient", dependencies: ["CCurl"]),
        // Blob stores: a local folder or an S3-compatible bucket (SigV4, multipart, listings, retries over libcurl).
        .target(name: "ObjectStore", dependencies: ["Support", "RESTClient"]),
        // Counters, histograms and gauges in the Prometheus text format. No HTTP, no SQL.
        .target(name: "Telemetry"),
        // Neuromodulation engine: network families, the training loop, checkpoints, specs.
        .target(name: "Engine", dependencies: ["Support", "CBLAS", "CZlib", "CSpikeKernels"]),
        // Worker queue: joins Engine and Storage for training.
        .target(name: "Jobs", dependencies: ["Engine", "Storage", "ObjectStore", "Support", "CSystemShims"]),
        // Model serving: registry look-ups, model cache, micro-batching (joins Engine and Storage for predictions).
        .target(name: "Serving", dependencies: ["Engine", "Storage", "ObjectStore", "Support"]),
        // Studies: design expansion, seed pairing, statistics (joins Engine specs and Storage for studies).
        .target(name: "Studies", dependencies: ["Engine", "Storage", "Support"]),
        // The browser dashboard's page, styles and scripts, compiled in.
        .target(name: "Dashboard", dependencies: ["Support"]),
        // /v1 and /v2 routes and handlers: HTTP to calls, nothing else.
        .target(name: "API", dependencies: ["Dashboard", "HTTP", "Storage", "ObjectStore", "Jobs", "Serving", "Studies", "Engine", "Support", "Telemetry"]),
        .executableTarget(name: "neuromod", dependencies: [
            "API", "HTTPServer", "CSystemShims", "Jobs", "Serving", "Studies", "Storage", "ObjectStore", "Engine", "Support", "Telemetry", "RESTClient",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Helpers the test targets share (a free loopback port, promtool).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP"]),
        .testTarget(name: "ObjectStoreTests", dependencies: ["ObjectStore", "Support", "TestSupport"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry", "TestSupport"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Support", "CSpikeKernels"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "TestSupport"]),
        .testTarget(name: "StudiesTests", dependencies: ["Studies", "Engine", "Storage", "Support"]),
        .testTarget(name: "ServiceTests", dependencies: ["API", "HTTPServer", "HTTP", "Jobs", "Serving", "Studies", "Storage", "ObjectStore", "Engine", "Support", "Telemetry", "neuromod", "TestSupport"]),
    ]
)
