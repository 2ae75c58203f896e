import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decompression and checksums through zlib: raw deflate (zip method 8) into a buffer of a known
/// size, gzip (`.gz`, one or more members) into a growing buffer, and CRC-32.
enum Inflate {
    /// The most bytes handed to zlib at once (its lengths are 32-bit).
    private static let chunk = 1 << 30

    /// The CRC-32 of `bytes` (the checksum zip and gzip record).
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        var crc = CZlib.crc32(0, nil, 0)
        var offset = 0
        while offset < bytes.count {
            let n = min(chunk, bytes.count - offset)
            crc = CZlib.crc32(crc, (base + offset).assumingMemoryBound(to: Bytef.self), uInt(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// Inflates a raw deflate stream that must give exactly `expectedCount` bytes and use all of
    /// `input`. `what` names the stream in errors.
    static func rawDeflate(_ input: UnsafeRawBufferPointer, expectedCount: Int, what: String) throws -> ByteRegion {
        guard let output = malloc(expectedCount + 1) else { throw DatasetError("\(what): out of memory for \(expectedCount) bytes") }
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            free(output)
            throw DatasetError("\(what): zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var fedIn = 0, fedOut = 0
        var status: Int32 = Z_OK
        repeat {
            feed(&stream, input: input, fed: &fedIn)
            if stream.avail_out == 0 && fedOut < expectedCount + 1 {
                let n = min(chunk, expectedCount + 1 - fedOut)
                stream.next_out = (output + fedOut).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(n)
                fedOut += n
            }
            status = inflate(&stream, Z_NO_FLUSH)
        } while status == Z_OK
        let produced = fedOut - Int(stream.avail_out)
        let unused = input.count - fedIn + Int(stream.avail_in)
        let failure: String?
        switch status {
        case Z_STREAM_END where produced != expectedCount:
            failure = "corrupt deflate stream: it inflates to \(produced) bytes, not the \(expectedCount) recorded"
        case Z_STREAM_END where unused > 0:
            failure = "corrupt deflate stream: \(unused) bytes follow its end"
        case Z_STREAM_END:
            failure = nil
        case Z_BUF_ERROR where produced > expectedCount:
            failure = "corrupt deflate stream: it inflates to more than the \(expectedCount) bytes recorded"
        case Z_BUF_ERROR:
            failure = "the deflate stream is truncated (\(produced) of \(expectedCount) bytes inflated)"
        case Z_MEM_ERROR:
            failure = "out of memory while inflating"
        default:
            failure = "corrupt deflate stream (\(message(stream)))"
        }
        if let failure {
            free(output)
            throw DatasetError("\(what): \(failure)")
        }
        return ByteRegion.taking(output, count: expectedCount)
    }

    /// Inflates gzip data (members laid end to end), refusing more than `limit` bytes of output.
    static func gunzip(_ input: UnsafeRawBufferPointer, limit: Int, what: String) throws -> ByteRegion {
        var capacity = min(limit + 1, max(1 << 16, gzipSizeHint(input)))
        guard var output = malloc(capacity) else { throw DatasetError("\(what): out of memory") }
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            free(output)
            throw DatasetError("\(what): zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var fedIn = 0, fedOut = 0
        func fail(_ reason: String) -> DatasetError {
            free(output)
            return DatasetError("\(what): \(reason)")
        }
        while true {
            feed(&stream, input: input, fed: &fedIn)
            if stream.avail_out == 0 {
                if fedOut == capacity {
                    guard capacity <= limit else { throw fail("it inflates to more than \(limit) bytes") }
                    let grown = min(limit + 1, capacity * 2)
                    guard let moved = realloc(output, grown) else { throw fail("out of memory while inflating") }
                    output = moved
                    capacity = grown
                }
                stream.next_out = (output + fedOut).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(min(chunk, capacity - fedOut))
                fedOut += Int(stream.avail_out)
            }
            let status = inflate(&stream, Z_NO_FLUSH)
            if status == Z_OK { continue }
            let unused = input.count - fedIn + Int(stream.avail_in)
            if status == Z_STREAM_END {
                guard unused > 0 else { break }
                let next = input.count - unused
                guard unused >= 2, input[next] == 0x1f, input[next + 1] == 0x8b else {
                    throw fail("\(unused) bytes that are not gzip data follow the compressed stream")
                }
                inflateReset(&stream)
                continue
            }
            if status == Z_BUF_ERROR && stream.avail_out == 0 { continue }
            if status == Z_BUF_ERROR { throw fail("the gzip stream is truncated") }
            if status == Z_MEM_ERROR { throw fail("out of memory while inflating") }
            throw fail("corrupt gzip stream (\(message(stream)))")
        }
        let produced = fedOut - Int(stream.avail_out)
        return ByteRegion.taking(output, count: produced)
    }

    /// Hands zlib the next chunk of `input` once it has used the last one.
    private static func feed(_ stream: inout z_stream, input: UnsafeRawBufferPointer, fed: inout Int) {
        guard stream.avail_in == 0, fed < input.count, let base = input.baseAddress else { return }
        let n = min(chunk, input.count - fed)
        stream.next_in = UnsafeMutablePointer(mutating: (base + fed).assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(n)
        fed += n
    }

    /// The uncompressed size a single-member gzip file records in its last four bytes (modulo 2³²).
    private static func gzipSizeHint(_ input: UnsafeRawBufferPointer) -> Int {
        input.count >= 18 ? Int(input.uint32LE(at: input.count - 4)) : 0
    }

    private static func message(_ stream: z_stream) -> String {
        stream.msg.map { String(cString: $0) } ?? "no detail"
    }
}
