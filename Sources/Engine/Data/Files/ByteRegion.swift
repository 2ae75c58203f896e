#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only bytes that stay valid while this object lives: a whole file mapped into memory, a
/// window onto another region (which it keeps alive), or memory allocated here and freed with it.
/// A stored array inside a mapped file is read through a window, so it is never copied before
/// its conversion to floats.
final class ByteRegion: @unchecked Sendable {
    private enum Storage {
        case mapped
        case window(of: ByteRegion)
        case allocated
        case empty
    }

    /// The bytes; never written through.
    let bytes: UnsafeRawBufferPointer
    private let storage: Storage

    private init(bytes: UnsafeRawBufferPointer, storage: Storage) {
        self.bytes = bytes
        self.storage = storage
    }

    deinit {
        switch storage {
        case .mapped: munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        case .allocated: free(UnsafeMutableRawPointer(mutating: bytes.baseAddress))
        case .window, .empty: break
        }
    }

    var count: Int { bytes.count }

    /// Maps the file at `path` read-only (an empty file gives an empty region).
    static func map(path: String) throws -> ByteRegion {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DatasetError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw DatasetError("cannot read \(path): \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw DatasetError("\(path) is not a regular file") }
        let size = Int(info.st_size)
        if size == 0 { return ByteRegion(bytes: UnsafeRawBufferPointer(start: nil, count: 0), storage: .empty) }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            throw DatasetError("cannot map \(path) into memory: \(String(cString: strerror(errno)))")
        }
        return ByteRegion(bytes: UnsafeRawBufferPointer(start: address, count: size), storage: .mapped)
    }

    /// Takes ownership of `count` bytes at `pointer`, allocated with `malloc`; they are freed with the region.
    static func taking(_ pointer: UnsafeMutableRawPointer, count: Int) -> ByteRegion {
        ByteRegion(bytes: UnsafeRawBufferPointer(start: pointer, count: count), storage: .allocated)
    }

    /// The bytes in `range` (relative to this region), sharing its memory.
    func window(_ range: Range<Int>) -> ByteRegion {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "window out of bounds")
        if range.isEmpty { return ByteRegion(bytes: UnsafeRawBufferPointer(start: nil, count: 0), storage: .empty) }
        return ByteRegion(bytes: UnsafeRawBufferPointer(rebasing: bytes[range]), storage: .window(of: self))
    }

    /// Whether the region begins with `prefix`.
    func starts(with prefix: [UInt8]) -> Bool {
        count >= prefix.count && prefix.indices.allSatisfy { bytes[$0] == prefix[$0] }
    }
}

/// Fixed-width integers at byte offsets; callers check the bounds first.
extension UnsafeRawBufferPointer {
    func uint16LE(at offset: Int) -> UInt16 { UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    func uint32LE(at offset: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    func uint64LE(at offset: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    func uint32BE(at offset: Int) -> UInt32 { UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
}
