/// A zip archive read through its central directory, ZIP64 included (the form `numpy.savez`
/// writes: every entry forced to ZIP64). Entries are stored (method 0: read in place, no copy)
/// or deflated (method 8); every entry read has its CRC-32 checked. Encrypted entries, other
/// methods and multi-part archives are refused.
struct ZipArchive {
    /// One file of the archive, as the central directory records it.
    struct Entry {
        var name: String
        var flags: UInt16
        var method: UInt16
        var crc32: UInt32
        var compressedSize: Int
        var uncompressedSize: Int
        var localHeaderOffset: Int

        /// A folder, not a file.
        var isDirectory: Bool { name.hasSuffix("/") }
    }

    /// The local file header's signature: every zip archive with an entry starts with it.
    static let localHeaderSignature: [UInt8] = [0x50, 0x4b, 0x03, 0x04]
    /// An empty archive is only an end-of-central-directory record.
    static let emptyArchiveSignature: [UInt8] = [0x50, 0x4b, 0x05, 0x06]

    let file: ByteRegion
    /// The entries in central-directory order.
    let entries: [Entry]

    /// Whether `file` starts like a zip archive.
    static func looksLikeZip(_ file: ByteRegion) -> Bool {
        file.starts(with: localHeaderSignature) || file.starts(with: emptyArchiveSignature)
    }

    /// Reads the end records and the central directory.
    init(_ file: ByteRegion) throws {
        self.file = file
        let b = file.bytes
        guard let end = Self.findEndRecord(b) else {
            throw DatasetError("the zip archive is truncated or damaged: its end-of-central-directory record is missing")
        }
        var entryCount = Int(b.uint16LE(at: end + 10))
        var directorySize = Int(b.uint32LE(at: end + 12))
        var directoryOffset = Int(b.uint32LE(at: end + 16))
        var directoryLimit = end
        if let zip64 = try Self.zip64EndRecord(b, endRecord: end) {
            entryCount = zip64.entries
            directorySize = zip64.directorySize
            directoryOffset = zip64.directoryOffset
            directoryLimit = zip64.recordOffset
        } else if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            throw DatasetError("the zip archive is damaged: it needs a ZIP64 end record, which is missing")
        } else if b.uint16LE(at: end + 4) != 0 || b.uint16LE(at: end + 6) != 0 || Int(b.uint16LE(at: end + 8)) != entryCount {
            throw DatasetError("multi-part zip archives are not supported")
        }
        guard directoryOffset <= directoryLimit, directorySize <= directoryLimit - directoryOffset,
              entryCount <= directorySize / 46 else {
            throw DatasetError("the zip archive is truncated or damaged: its central directory lies outside the file")
        }
        var entries: [Entry] = []
        var offset = directoryOffset
        for _ in 0..<entryCount {
            let entry = try Self.centralEntry(b, at: &offset, directoryEnd: directoryOffset + directorySize)
            entries.append(entry)
        }
        self.entries = entries
    }

    /// The uncompressed bytes of `entry` (a window onto the file when stored), CRC-checked.
    /// `limit` bounds the size an entry may have.
    func contents(of entry: Entry, limit: Int) throws -> ByteRegion {
        let what = "zip entry \(entry.name)"
        if entry.flags & 0x41 != 0 { throw DatasetError("\(what) is encrypted; encrypted archives are not supported") }
        guard entry.method == 0 || entry.method == 8 else {
            throw DatasetError("\(what) uses compression method \(entry.method)\(Self.methodName(entry.method)); only stored (0) and deflate (8) are supported")
        }
        guard entry.uncompressedSize <= limit else {
            throw DatasetError("\(what) holds \(entry.uncompressedSize) bytes, more than the \(limit) allowed")
        }
        let data = try dataRange(of: entry)
        try checkDataDescriptor(of: entry, after: data.upperBound)
        let contents: ByteRegion
        if entry.method == 0 {
            guard entry.compressedSize == entry.uncompressedSize else {
                throw DatasetError("\(what) is stored uncompressed but records \(entry.compressedSize) bytes in the archive for \(entry.uncompressedSize) bytes of data")
            }
            contents = file.window(data)
        } else {
            // Deflate cannot compress by more than about 1032:1; a larger claim is a damaged or hostile header.
            guard entry.uncompressedSize / 1032 <= entry.compressedSize + 1 else {
                throw DatasetError("\(what) claims \(entry.uncompressedSize) bytes from \(entry.compressedSize) deflated bytes, which deflate cannot give")
            }
            contents = try Inflate.rawDeflate(file.window(data).bytes, expectedCount: entry.uncompressedSize, what: what)
        }
        let crc = Inflate.crc32(contents.bytes)
        guard crc == entry.crc32 else {
            throw DatasetError("\(what): CRC-32 mismatch (recorded \(Self.hex(entry.crc32)), computed \(Self.hex(crc))); the archive is damaged")
        }
        return contents
    }

    // MARK: - Records

    /// The offset of the end-of-central-directory record: the last one whose comment reaches
    /// exactly to the end of the file.
    private static func findEndRecord(_ b: UnsafeRawBufferPointer) -> Int? {
        guard b.count >= 22 else { return nil }
        var offset = b.count - 22
        let lowest = max(0, b.count - 22 - 0xFFFF)
        while offset >= lowest {
            if b.uint32LE(at: offset) == 0x0605_4b50, Int(b.uint16LE(at: offset + 20)) == b.count - offset - 22 {
                return offset
            }
            offset -= 1
        }
        return nil
    }

    private struct Zip64End {
        var recordOffset: Int
        var entries: Int
        var directorySize: Int
        var directoryOffset: Int
    }

    /// The ZIP64 end record, when a locator precedes the end record.
    private static func zip64EndRecord(_ b: UnsafeRawBufferPointer, endRecord: Int) throws -> Zip64End? {
        let locator = endRecord - 20
        guard locator >= 0, b.uint32LE(at: locator) == 0x0706_4b50 else { return nil }
        let damaged = DatasetError("the zip archive is truncated or damaged: its ZIP64 end record is unreadable")
        guard b.uint32LE(at: locator + 4) == 0, b.uint32LE(at: locator + 16) <= 1 else {
            throw DatasetError("multi-part zip archives are not supported")
        }
        let recordOffset = b.uint64LE(at: locator + 8)
        guard recordOffset <= UInt64(locator), locator - Int(recordOffset) >= 56 else { throw damaged }
        let r = Int(recordOffset)
        guard b.uint32LE(at: r) == 0x0606_4b50 else { throw damaged }
        guard b.uint32LE(at: r + 16) == 0, b.uint32LE(at: r + 20) == 0, b.uint64LE(at: r + 24) == b.uint64LE(at: r + 32) else {
            throw DatasetError("multi-part zip archives are not supported")
        }
        let entries = b.uint64LE(at: r + 32), size = b.uint64LE(at: r + 40), offset = b.uint64LE(at: r + 48)
        guard entries < 1 << 32, size <= UInt64(r), offset <= UInt64(r) else { throw damaged }
        return Zip64End(recordOffset: r, entries: Int(entries), directorySize: Int(size), directoryOffset: Int(offset))
    }

    /// Reads the central-directory entry at `offset` and moves `offset` past it.
    private static func centralEntry(_ b: UnsafeRawBufferPointer, at offset: inout Int, directoryEnd: Int) throws -> Entry {
        let damaged = DatasetError("the zip archive is damaged: its central directory is malformed")
        let o = offset
        guard directoryEnd - o >= 46, b.uint32LE(at: o) == 0x0201_4b50 else { throw damaged }
        let nameLength = Int(b.uint16LE(at: o + 28)), extraLength = Int(b.uint16LE(at: o + 30))
        let commentLength = Int(b.uint16LE(at: o + 32))
        guard directoryEnd - o - 46 >= nameLength + extraLength + commentLength else { throw damaged }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: b[(o + 46)..<(o + 46 + nameLength)]), as: UTF8.self)
        var entry = Entry(name: name, flags: b.uint16LE(at: o + 8), method: b.uint16LE(at: o + 10),
                          crc32: b.uint32LE(at: o + 16), compressedSize: Int(b.uint32LE(at: o + 20)),
                          uncompressedSize: Int(b.uint32LE(at: o + 24)), localHeaderOffset: Int(b.uint32LE(at: o + 42)))
        let firstDisk = b.uint16LE(at: o + 34)
        let extra = UnsafeRawBufferPointer(rebasing: b[(o + 46 + nameLength)..<(o + 46 + nameLength + extraLength)])
        try applyZip64Extra(extra, to: &entry, firstDisk: firstDisk)
        offset = o + 46 + nameLength + extraLength + commentLength
        return entry
    }

    /// Replaces the 32-bit fields saturated at 0xFFFFFFFF with the ZIP64 extra field's (id 0x0001)
    /// 64-bit values, in their fixed order.
    private static func applyZip64Extra(_ extra: UnsafeRawBufferPointer, to entry: inout Entry, firstDisk: UInt16) throws {
        let needsUncompressed = entry.uncompressedSize == 0xFFFF_FFFF
        let needsCompressed = entry.compressedSize == 0xFFFF_FFFF
        let needsOffset = entry.localHeaderOffset == 0xFFFF_FFFF
        let needsDisk = firstDisk == 0xFFFF
        var field: UnsafeRawBufferPointer?
        var p = 0
        while extra.count - p >= 4 {
            let id = extra.uint16LE(at: p), size = Int(extra.uint16LE(at: p + 2))
            guard extra.count - p - 4 >= size else {
                throw DatasetError("zip entry \(entry.name): its extra fields are malformed")
            }
            if id == 0x0001 { field = UnsafeRawBufferPointer(rebasing: extra[(p + 4)..<(p + 4 + size)]) }
            p += 4 + size
        }
        guard needsUncompressed || needsCompressed || needsOffset || needsDisk else { return }
        let wanted = (needsUncompressed ? 8 : 0) + (needsCompressed ? 8 : 0) + (needsOffset ? 8 : 0) + (needsDisk ? 4 : 0)
        guard let field, field.count >= wanted else {
            throw DatasetError("zip entry \(entry.name): its ZIP64 sizes or offset are missing")
        }
        var q = 0
        func next64() throws -> Int {
            let v = field.uint64LE(at: q)
            q += 8
            guard v < 1 << 62 else { throw DatasetError("zip entry \(entry.name): its ZIP64 sizes are out of range") }
            return Int(v)
        }
        if needsUncompressed { entry.uncompressedSize = try next64() }
        if needsCompressed { entry.compressedSize = try next64() }
        if needsOffset { entry.localHeaderOffset = try next64() }
        if needsDisk, field.uint32LE(at: q) != 0 { throw DatasetError("multi-part zip archives are not supported") }
        if !needsDisk, firstDisk != 0 { throw DatasetError("multi-part zip archives are not supported") }
    }

    /// Where `entry`'s data lies in the file, after checking its local header against the central directory.
    private func dataRange(of entry: Entry) throws -> Range<Int> {
        let b = file.bytes, o = entry.localHeaderOffset
        let damaged = DatasetError("zip entry \(entry.name): the archive is truncated or damaged (its local header is missing or disagrees with the central directory)")
        guard o <= b.count - 30, b.uint32LE(at: o) == 0x0403_4b50, b.uint16LE(at: o + 8) == entry.method,
              (b.uint16LE(at: o + 6) & 0x41) == (entry.flags & 0x41) else { throw damaged }
        let nameLength = Int(b.uint16LE(at: o + 26)), extraLength = Int(b.uint16LE(at: o + 28))
        let start = o + 30 + nameLength + extraLength
        guard start <= b.count, entry.compressedSize <= b.count - start,
              String(decoding: UnsafeRawBufferPointer(rebasing: b[(o + 30)..<(o + 30 + nameLength)]), as: UTF8.self) == entry.name else {
            throw damaged
        }
        return start..<(start + entry.compressedSize)
    }

    /// An entry written with a data descriptor (flag bit 3) has its CRC and sizes after its data;
    /// the central directory's copy is used, and the descriptor must agree with it.
    private func checkDataDescriptor(of entry: Entry, after end: Int) throws {
        guard entry.flags & 0x08 != 0 else { return }
        let b = file.bytes
        var p = end
        if b.count - p >= 4, b.uint32LE(at: p) == 0x0807_4b50 { p += 4 }
        let crcMatches = b.count - p >= 4 && b.uint32LE(at: p) == entry.crc32
        let narrow = b.count - p >= 12 && Int(b.uint32LE(at: p + 4)) == entry.compressedSize
            && Int(b.uint32LE(at: p + 8)) == entry.uncompressedSize
        let wide = b.count - p >= 20 && b.uint64LE(at: p + 4) == UInt64(entry.compressedSize)
            && b.uint64LE(at: p + 12) == UInt64(entry.uncompressedSize)
        guard crcMatches && (narrow || wide) else {
            throw DatasetError("zip entry \(entry.name): its data descriptor is missing or disagrees with the central directory")
        }
    }

    private static func methodName(_ method: UInt16) -> String {
        switch method {
        case 1...6: return " (an old PKZIP method)"
        case 9: return " (deflate64)"
        case 12: return " (bzip2)"
        case 14: return " (LZMA)"
        case 93: return " (zstd)"
        case 95: return " (xz)"
        case 99: return " (AES encryption)"
        default: return ""
        }
    }

    private static func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
