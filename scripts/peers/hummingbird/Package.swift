// swift-tools-version:6.0
// A Hummingbird 2 server answering one in-memory JSON body, as the tail-latency peer of
// scripts/bench-tail.sh (PEER=1). Not part of the service: a separate package, built only by that script.
import PackageDescription

let package = Package(
    name: "hummingbird-peer",
    platforms: [.macOS(.v14)],
    dependencies: [.package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0")],
    targets: [
        .executableTarget(name: "HummingbirdPeer", dependencies: [.product(name: "Hummingbird", package: "hummingbird")]),
    ]
)
