import Foundation
import XCTest
@testable import Engine

/// Uploaded data-set files (`DatasetFile.read`), written at test time by NumPy, the safetensors
/// package and Python's zipfile — real files, no mocks — and checked value by value against
/// what Python says they hold.
final class DatasetFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("datasetfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: - Reading

    func testSavezAndSavezCompressedOfEveryElementType() throws {
        try python(#"""
            for fn in ('savez', 'savez_compressed'):
                save = getattr(np, fn)
                xtr, ytr, xte, yte = images(30), labels(30, 10), images(12), labels(12, 10)
                save(fn + '_images.npz', x_train=xtr, y_train=ytr.astype(np.int64), x_test=xte, y_test=yte.astype(np.int64))
                expect(fn + '_images', xtr, ytr, xte, yte)
                xtr, xte = rng.standard_normal((25, 7)).astype(np.float32), rng.standard_normal((9, 7)).astype(np.float32)
                ytr, yte = labels(25, 3).astype(np.uint8), labels(9, 3).astype(np.uint8)
                save(fn + '_f32.npz', x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
                expect(fn + '_f32', xtr, ytr, xte, yte)
                xtr, xte = rng.standard_normal((11, 4)) * 1e3, rng.standard_normal((5, 4)) * 1e-3
                ytr, yte = labels(11, 4).astype(np.int32), labels(5, 4).astype(np.uint16)
                save(fn + '_f64.npz', x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
                expect(fn + '_f64', xtr, ytr, xte, yte)
                xtr, xte = rng.random((13, 6)) < 0.5, rng.random((4, 6)) < 0.5
                ytr, yte = np.arange(13) % 2 == 1, np.arange(4) % 2 == 0
                save(fn + '_bool.npz', x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
                expect(fn + '_bool', xtr, ytr, xte, yte)
                xtr, xte = rng.integers(-300, 300, (8, 3)).astype(np.int16), rng.integers(0, 9, (3, 3)).astype(np.uint32)
                ytr, yte = labels(8, 5).astype(np.int8), labels(3, 5).astype(np.uint64)
                save(fn + '_ints.npz', x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
                expect(fn + '_ints', xtr, ytr, xte, yte)
            """#)
        for fn in ["savez", "savez_compressed"] {
            let images = try read("\(fn)_images.npz")
            XCTAssertEqual(images.summary, DatasetFileSummary(format: .npz, sampleShape: [28, 28], features: 784, classes: 10,
                                                              trainCount: 30, testCount: 12, validationCount: nil))
            XCTAssertEqual(images.train.labelNames, (0..<10).map(String.init))
            XCTAssertEqual(images.train.name, "upload")
            XCTAssertNil(images.validation)
            try assertExpected(images, "\(fn)_images")
            let shapes: [(String, [Int], Int)] = [("f32", [7], 3), ("f64", [4], 4), ("bool", [6], 2), ("ints", [3], 5)]
            for (kind, sampleShape, classes) in shapes {
                let contents = try read("\(fn)_\(kind).npz")
                XCTAssertEqual(contents.summary.sampleShape, sampleShape, kind)
                XCTAssertEqual(contents.summary.classes, classes, kind)
                XCTAssertEqual(contents.train.classes, classes, kind)
                try assertExpected(contents, "\(fn)_\(kind)")
            }
        }
    }

    func testValidationSplitAndClassesCountedOverAllSplits() throws {
        try python(#"""
            xtr, xva, xte = (rng.random((n, 5), dtype=np.float32) for n in (20, 6, 7))
            ytr, yte = rng.integers(0, 3, 20), rng.integers(0, 3, 7)
            yva = np.array([0, 1, 2, 4, 0, 1])
            np.savez('val.npz', x_train=xtr, y_train=ytr, x_val=xva, y_val=yva, x_test=xte, y_test=yte)
            expect('val', xtr, ytr, xte, yte, xva, yva)
            """#)
        let contents = try read("val.npz")
        XCTAssertEqual(contents.summary, DatasetFileSummary(format: .npz, sampleShape: [5], features: 5, classes: 5,
                                                            trainCount: 20, testCount: 7, validationCount: 6))
        XCTAssertEqual(contents.validation?.classes, 5)
        XCTAssertEqual(contents.train.classes, 5, "a label seen only in the validation split still counts")
        try assertExpected(contents, "val")
    }

    func testSequencesKeepTheirPerSampleShape() throws {
        try python(#"""
            xtr, xte = rng.standard_normal((10, 6, 3)).astype(np.float32), rng.standard_normal((4, 6, 3)).astype(np.float32)
            ytr, yte = labels(10, 2), labels(4, 2)
            np.savez_compressed('seq.npz', x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
            expect('seq', xtr, ytr, xte, yte)
            """#)
        let contents = try read("seq.npz")
        XCTAssertEqual(contents.summary.sampleShape, [6, 3])
        XCTAssertEqual(contents.summary.features, 18)
        XCTAssertEqual(contents.train.sampleShape, [6, 3])
        XCTAssertEqual(contents.test.features, 18)
        try assertExpected(contents, "seq")
    }

    func testEventsBecomeDenseBinaryArrays() throws {
        try python(#"""
            n, t, f = 5, 4, 3
            ev = np.array([[0, 0, 0], [0, 0, 0], [1, 3, 2], [4, 1, 1], [4, 1, 1], [2, 2, 0]], dtype=np.int64)
            dense = np.zeros((n, t, f), dtype=np.float32)
            dense[ev[:, 0], ev[:, 1], ev[:, 2]] = 1
            xte = (rng.random((3, t, f)) < 0.3).astype(np.float32)
            ytr, yte = labels(n, 2), labels(3, 2)
            np.savez('events.npz', x_train_events=ev, x_train_shape=np.array([n, t, f], dtype=np.int32),
                     y_train=ytr, x_test=xte, y_test=yte)
            expect('events', dense, ytr, xte, yte)
            empty = np.zeros((0, 3), dtype=np.uint16)
            np.savez('no_events.npz', x_train_events=empty, x_train_shape=np.array([2, t, f]), y_train=np.array([0, 1]),
                     x_test_events=ev, x_test_shape=np.array([n, t, f]), y_test=labels(n, 2))
            """#)
        let contents = try read("events.npz")
        XCTAssertEqual(contents.summary.sampleShape, [4, 3])
        XCTAssertEqual(contents.train.count, 5)
        try assertExpected(contents, "events")
        let empty = try read("no_events.npz")
        XCTAssertEqual(empty.train.inputs.array, [Float](repeating: 0, count: 2 * 12), "no events: all zeros")
        XCTAssertEqual(empty.test.inputs.array.reduce(0, +), 4, "four distinct events; duplicates count once")
    }

    func testSafetensorsFiles() throws {
        try python(#"""
            xtr, xte = images(9), images(4)
            ytr, yte = labels(9, 10), labels(4, 10)
            try:
                from safetensors.numpy import save_file
                save_file({'x_train': xtr, 'y_train': ytr.astype(np.int64), 'x_test': xte, 'y_test': yte.astype(np.int64)},
                          'package.safetensors', metadata={'source': 'test'})
            except ImportError:
                write_safetensors('package.safetensors', {'x_train': xtr, 'y_train': ytr.astype(np.int64),
                                                          'x_test': xte, 'y_test': yte.astype(np.int64)})
            expect('package', xtr, ytr, xte, yte)
            a, b = rng.standard_normal((3, 2, 5)), rng.standard_normal((2, 2, 5)).astype(np.float32)
            ya, yb = np.array([0, 1, 2], dtype=np.int16), np.array([True, False])
            # An odd header length, so the tensors are not aligned in the file.
            write_safetensors('hand.safetensors', {'y_test': yb, 'x_train': a, 'y_train': ya, 'x_test': b}, pad=3)
            expect('hand', a, ya, b, yb)
            """#)
        let package = try read("package.safetensors")
        XCTAssertEqual(package.summary, DatasetFileSummary(format: .safetensors, sampleShape: [28, 28], features: 784, classes: 10,
                                                           trainCount: 9, testCount: 4, validationCount: nil))
        try assertExpected(package, "package")
        let hand = try read("hand.safetensors")
        XCTAssertEqual(hand.summary.sampleShape, [2, 5])
        XCTAssertEqual(hand.summary.classes, 3)
        try assertExpected(hand, "hand")
    }

    func testNpyFormatVersions2And3() throws {
        try python(#"""
            from numpy.lib import format as npf
            xtr, xte = rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((2, 4)).astype(np.float32)
            ytr, yte = labels(6, 3), labels(2, 3)
            with zipfile.ZipFile('versions.npz', 'w', zipfile.ZIP_DEFLATED) as z:
                for name, arr, version in (('x_train', xtr, (2, 0)), ('y_train', ytr, (3, 0)), ('x_test', xte, (1, 0)), ('y_test', yte, (2, 0))):
                    with z.open(name + '.npy', 'w') as f:
                        npf.write_array(f, arr, version=version)
            expect('versions', xtr, ytr, xte, yte)
            """#)
        try assertExpected(try read("versions.npz"), "versions")
    }

    func testDataDescriptorsOfAnArchiveWrittenToAStream() throws {
        // zipfile writing to a stream it cannot seek puts each entry's CRC and sizes in a data
        // descriptor after its data (flag bit 3); the central directory still has them.
        try python(#"""
            from numpy.lib import format as npf
            class Stream(io.RawIOBase):
                def __init__(self): self.data = bytearray()
                def writable(self): return True
                def write(self, b): self.data += b; return len(b)
            xtr, xte = images(7), images(3)
            ytr, yte = labels(7, 5), labels(3, 5)
            stream = Stream()
            with zipfile.ZipFile(stream, 'w') as z:
                for i, (name, arr) in enumerate((('x_train', xtr), ('y_train', ytr), ('x_test', xte), ('y_test', yte))):
                    z.compression = zipfile.ZIP_DEFLATED if i % 2 else zipfile.ZIP_STORED
                    with z.open(name + '.npy', 'w') as f:
                        npf.write_array(f, arr)
            data = bytes(stream.data)
            assert data[6] & 8, 'a data descriptor is used'
            open('descriptor.npz', 'wb').write(data)
            expect('descriptor', xtr, ytr, xte, yte)
            offset, size = local_data_offset('descriptor.npz', 'x_train.npy')
            assert data[offset + size:offset + size + 4] == b'PK\x07\x08'
            patch('descriptor.npz', 'bad_descriptor.npz', offset + size + 4, b'\0\0\0\0')
            """#)
        try assertExpected(try read("descriptor.npz"), "descriptor")
        assertError("bad_descriptor.npz", ["zip entry x_train.npy: its data descriptor is missing or disagrees with the central directory"])
    }

    func testZip64CentralDirectoryAndEndRecords() throws {
        // Python's zipfile puts ZIP64 fields only in local headers for small files; this archive is
        // written by hand with ZIP64 sizes and offsets in the central directory and ZIP64 end records.
        try python(#"""
            import zlib
            xtr, xte = images(5), images(3)
            ytr, yte = labels(5, 4), labels(3, 4)
            entries = []
            for name, arr in (('x_train', xtr), ('y_train', ytr), ('x_test', xte), ('y_test', yte)):
                buf = io.BytesIO(); np.save(buf, arr); entries.append((name + '.npy', buf.getvalue()))
            out = bytearray(); central = bytearray()
            for i, (name, data) in enumerate(entries):
                raw = name.encode(); crc = zlib.crc32(data)
                method, stored = (8, zlib.compress(data)[2:-4]) if i % 2 else (0, data)
                offset = len(out)
                local_extra = struct.pack('<HHQQ', 1, 16, len(data), len(stored))
                out += struct.pack('<IHHHHHIIIHH', 0x04034b50, 45, 0, method, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(raw), len(local_extra))
                out += raw + local_extra + stored
                extra = struct.pack('<HHQQQ', 1, 24, len(data), len(stored), offset)
                central += struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 45, 45, 0, method, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                                       len(raw), len(extra), 0, 0, 0, 0, 0xFFFFFFFF)
                central += raw + extra
            cd_offset = len(out); out += central; z64 = len(out)
            out += struct.pack('<IQHHIIQQQQ', 0x06064b50, 44, 45, 45, 0, 0, len(entries), len(entries), len(central), cd_offset)
            out += struct.pack('<IIQI', 0x07064b50, 0, z64, 1)
            out += struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
            open('zip64.npz', 'wb').write(out)
            expect('zip64', xtr, ytr, xte, yte)
            with zipfile.ZipFile('zip64.npz') as z:
                assert z.testzip() is None
            assert (np.load('zip64.npz')['x_train'] == xtr).all()
            """#)
        let contents = try read("zip64.npz")
        XCTAssertEqual(contents.summary.format, .npz)
        try assertExpected(contents, "zip64")
    }

    func testZipOfFashionMNISTIDXFilesEqualsTheBuiltInLoaderBitForBit() throws {
        let source = DatasetLibrary.defaultFashionMNISTDirectory
        try python(#"""
            src = '\#(source)'
            names = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
            with zipfile.ZipFile('fashion-gz.zip', 'w', zipfile.ZIP_STORED) as z:
                for n in names:
                    z.write(os.path.join(src, n), 'fashion/' + n)
            with zipfile.ZipFile('fashion-raw.zip', 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as z:
                z.writestr('fashion/', b'')
                for n in names:
                    z.writestr(n[:-3], gzip.open(os.path.join(src, n)).read())
            """#)
        let builtIn = try DatasetLibrary(directory: source).load("fashion-mnist")
        XCTAssertEqual(builtIn.train.sampleShape, [28, 28])
        for file in ["fashion-gz.zip", "fashion-raw.zip"] {
            let contents = try read(file)
            XCTAssertEqual(contents.summary, DatasetFileSummary(format: .idx, sampleShape: [28, 28], features: 784, classes: 10,
                                                                trainCount: 60_000, testCount: 10_000, validationCount: nil), file)
            for (ours, theirs) in [(contents.train, builtIn.train), (contents.test, builtIn.test)] {
                XCTAssertEqual(ours.count, theirs.count, file)
                XCTAssertEqual(ours.labels, theirs.labels, file)
                XCTAssertEqual(ours.sampleShape, theirs.sampleShape, file)
                XCTAssertEqual(memcmp(ours.inputs.pointer, theirs.inputs.pointer, theirs.inputs.count * 4), 0,
                               "\(file): the same Float bits as the built-in loader")
            }
        }
    }

    // MARK: - Errors

    func testContentErrorsNameTheArrayAndTheProblem() throws {
        try python(#"""
            def ok(n=6, f=4): return rng.random((n, f), dtype=np.float32), labels(n, 3)
            def save(path, **arrays):
                base = dict(zip(('x_train', 'y_train'), ok())) | dict(zip(('x_test', 'y_test'), ok(3)))
                base.update(arrays)
                np.savez(path, **{k: v for k, v in base.items() if v is not None})
            nan = ok()[0]; nan[2, 1] = np.nan
            save('nan.npz', x_train=nan)
            inf = ok(3)[0].astype(np.float64); inf[1, 0] = -np.inf
            save('inf.npz', x_test=inf)
            save('huge.npz', x_test=np.full((3, 4), 1e300))
            save('float_labels.npz', y_train=np.array([0, 1, 2, 0, 1, 2], dtype=np.float32))
            save('count.npz', y_train=np.array([0, 1, 2, 0, 1]))
            save('shapes.npz', x_test=rng.random((3, 2, 2), dtype=np.float32))
            save('no_y_test.npz', y_test=None)
            save('unknown.npz', x_tarin=ok()[0])
            save('negative.npz', y_test=np.array([0, 2, -1]))
            save('one_class.npz', y_train=np.zeros(6, dtype=np.int64), y_test=np.zeros(3, dtype=np.int64))
            save('half_val.npz', x_val=ok(2)[0])
            save('rank1.npz', x_train=np.arange(6, dtype=np.float32))
            save('empty.npz', x_train=np.zeros((0, 4), dtype=np.float32), y_train=np.zeros(0, dtype=np.int64))
            save('label_rank.npz', y_train=labels(6, 3).reshape(6, 1))
            save('too_many_classes.npz', y_train=np.array([0, 1, 2, 0, 1, 70000]))
            save('bad_bool.npz', x_train=np.frombuffer(bytes([0, 1, 7, 0] * 6), dtype=np.bool_).reshape(6, 4))
            save('rank5.npz', x_train=np.zeros((6, 1, 1, 1, 4), dtype=np.float32))
            ev = np.array([[0, 0, 0], [5, 1, 1]])
            save('events_range.npz', x_train=None, x_train_events=np.array([[0, 0, 0], [1, 1, 2]]), x_train_shape=np.array([6, 2, 2]), x_test=ok(3, 4)[0].reshape(3, 2, 2))
            save('events_half.npz', x_train=None, x_train_events=ev)
            save('events_both.npz', x_train_events=ev, x_train_shape=np.array([6, 2, 2]))
            save('events_float.npz', x_train=None, x_train_events=ev.astype(np.float32), x_train_shape=np.array([6, 2, 2]))
            """#)
        let cases: [(String, [String])] = [
            ("nan.npz", ["x_train: value nan at index 9 (sample 2) is not finite"]),
            ("inf.npz", ["x_test: value -inf at index 4 (sample 1) is not finite"]),
            ("huge.npz", ["x_test", "beyond the Float32 range"]),
            ("float_labels.npz", ["y_train: labels must be integers (or bool), got dtype <f4"]),
            ("count.npz", ["y_train: 5 labels for the 6 samples of x_train"]),
            ("shapes.npz", ["x_test: per-sample shape (2, 2) differs from x_train's (4,)"]),
            ("no_y_test.npz", ["missing array y_test"]),
            ("unknown.npz", ["x_tarin: unknown array name"]),
            ("negative.npz", ["y_test: label -1 at index 2 is outside 0..2"]),
            ("one_class.npz", ["only one class"]),
            ("half_val.npz", ["missing array y_val", "give both or neither"]),
            ("rank1.npz", ["x_train: expected shape (samples, features…)", "got (6,)"]),
            ("empty.npz", ["x_train: empty"]),
            ("label_rank.npz", ["y_train: expected rank 1", "(6, 1)"]),
            ("too_many_classes.npz", ["y_train: label 70000 at index 5 is outside 0..65535"]),
            ("bad_bool.npz", ["x_train: bool value 7"]),
            ("rank5.npz", ["x_train: rank 5", "more than the 4 allowed"]),
            ("events_range.npz", ["x_train_events: event 1 (sample 1, t 1, channel 2) is outside the shape [6, 2, 2] that x_train_shape gives"]),
            ("events_half.npz", ["missing array x_train_shape"]),
            ("events_both.npz", ["x_train: given both as a dense array and as x_train_events"]),
            ("events_float.npz", ["x_train_events: events must be integers"]),
        ]
        for (file, fragments) in cases { assertError(file, fragments) }
    }

    func testFormatErrorsNameTheArrayAndTheProblem() throws {
        try python(#"""
            xtr, xte, ytr, yte = rng.random((50, 8), dtype=np.float32), rng.random((20, 8), dtype=np.float32), labels(50, 3), labels(20, 3)
            np.savez('good.npz', x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
            raw = open('good.npz', 'rb').read()
            open('truncated.npz', 'wb').write(raw[:len(raw) // 2])
            offset, size = local_data_offset('good.npz', 'x_train.npy')
            patch('good.npz', 'crc.npz', offset + size - 10, b'\x01\x02\x03')
            np.savez_compressed('compressed.npz', x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
            offset, size = local_data_offset('compressed.npz', 'x_train.npy')
            patch('compressed.npz', 'deflate.npz', offset + size // 2, b'\xff' * 64)
            cd = open('compressed.npz', 'rb').read()
            i = cd.find(b'PK\x01\x02')
            while cd[i + 46:i + 46 + 11] != b'x_train.npy':
                i = cd.find(b'PK\x01\x02', i + 4)
            patch('compressed.npz', 'crc_deflated.npz', i + 16, b'\0\0\0\0')
            np.savez('fortran.npz', x_train=np.asfortranarray(xtr), y_train=ytr, x_test=xte, y_test=yte)
            np.savez('big_endian.npz', x_train=xtr.astype('>f4'), y_train=ytr, x_test=xte, y_test=yte)
            np.savez('float16.npz', x_train=xtr.astype(np.float16), y_train=ytr, x_test=xte, y_test=yte)
            objects = np.array([[1, 2], [3, 4], 'five', None] * 12 + [1, 2], dtype=object)
            np.savez('objects.npz', x_train=objects, y_train=ytr, x_test=xte, y_test=yte, allow_pickle=True)
            open('image.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + bytes(rng.integers(0, 256, 200, dtype=np.uint8)))
            open('random.bin', 'wb').write(bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
            open('empty.bin', 'wb').write(b'')
            np.save('single.npy', xtr)
            with zipfile.ZipFile('bzip2.npz', 'w', zipfile.ZIP_BZIP2) as z:
                z.writestr('x_train.npy', b'0' * 100)
            with zipfile.ZipFile('other.zip', 'w') as z:
                z.writestr('notes.txt', 'hello')
            with zipfile.ZipFile('mixed.npz', 'w') as z:
                z.write('single.npy', 'x_train.npy'); z.writestr('notes.txt', 'hello')
            b = bytearray(open('good.npz', 'rb').read())   # flag bit 0 (encrypted) in every header
            for sig, at in ((b'PK\x03\x04', 6), (b'PK\x01\x02', 8)):
                i = b.find(sig)
                while i >= 0:
                    b[i + at] |= 1; i = b.find(sig, i + 4)
            open('encrypted.npz', 'wb').write(b)
            """#)
        let notADataSet = "not a data-set file: expected a NumPy .npz, a safetensors file or a zip of IDX files"
        let cases: [(String, [String])] = [
            ("truncated.npz", ["truncated"]),
            ("crc.npz", ["zip entry x_train.npy: CRC-32 mismatch"]),
            ("deflate.npz", ["zip entry x_train.npy"]),
            ("crc_deflated.npz", ["zip entry x_train.npy: CRC-32 mismatch (recorded 0x00000000"]),
            ("fortran.npz", ["x_train: fortran_order is True"]),
            ("big_endian.npz", ["x_train: dtype >f4 is big-endian"]),
            ("float16.npz", ["x_train: dtype <f2 (float16: convert to float32) is not supported"]),
            ("objects.npz", ["x_train: dtype |O (Python objects) is not supported"]),
            ("image.png", [notADataSet]),
            ("random.bin", [notADataSet]),
            ("empty.bin", [notADataSet]),
            ("single.npy", [notADataSet, "single .npy array"]),
            ("bzip2.npz", ["zip entry x_train.npy uses compression method 12 (bzip2)"]),
            ("other.zip", [notADataSet, "neither .npy arrays nor IDX files"]),
            ("mixed.npz", ["zip entry notes.txt is not a .npy array"]),
            ("encrypted.npz", ["is encrypted"]),
        ]
        for (file, fragments) in cases { assertError(file, fragments) }
        let deflate = try XCTUnwrap(error("deflate.npz"))
        XCTAssertTrue(deflate.contains("deflate") || deflate.contains("CRC-32 mismatch"), deflate)
        XCTAssertEqual(error("image.png"), notADataSet)
        XCTAssertThrowsError(try DatasetFile.read(path: directory.appendingPathComponent("missing.npz").path, name: "x")) {
            XCTAssertTrue(String(describing: $0).contains("cannot open"), String(describing: $0))
        }
    }

    func testSafetensorsErrors() throws {
        try python(#"""
            x, y = np.zeros((2, 2), dtype=np.float32), np.array([0, 1], dtype=np.int64)
            def arrays(**over): return {'x_train': x, 'y_train': y, 'x_test': x, 'y_test': y} | over
            write_safetensors('f16.safetensors', arrays(x_test=x.astype(np.float16)))
            header, body = safetensors_parts(arrays())
            header['x_test']['data_offsets'] = header['x_train']['data_offsets']
            write_parts('overlap.safetensors', header, body)
            header, body = safetensors_parts(arrays())
            write_parts('truncated.safetensors', header, body[:-5])
            header, body = safetensors_parts(arrays())
            write_parts('trailing.safetensors', header, body + b'\0' * 8)
            header, body = safetensors_parts(arrays())
            header['y_test']['shape'] = [3]
            write_parts('shape.safetensors', header, body)
            header, body = safetensors_parts(arrays())
            header['y_test']['extra'] = 1
            write_parts('extra_key.safetensors', header, body)
            write_safetensors('nan.safetensors', arrays(x_test=np.array([[0, 1], [np.nan, 0]], dtype=np.float32)))
            """#)
        let cases: [(String, [String])] = [
            ("f16.safetensors", ["x_test: dtype F16 (half precision: convert to F32) is not supported"]),
            ("overlap.safetensors", ["overlaps", "data_offsets must not overlap"]),
            ("truncated.safetensors", ["y_test: data_offsets", "lie outside"]),
            ("trailing.safetensors", ["8 bytes after its last tensor"]),
            ("shape.safetensors", ["y_test: data_offsets", "shape (3,) of I64 needs 24"]),
            ("extra_key.safetensors", ["y_test: the safetensors entry must hold exactly dtype, shape and data_offsets"]),
            ("nan.safetensors", ["x_test: value nan at index 2 (sample 1) is not finite"]),
        ]
        for (file, fragments) in cases { assertError(file, fragments) }
    }

    func testIDXErrors() throws {
        try python(#"""
            def idx(dims, type_code=8, data=None):
                n = int(np.prod(dims))
                return bytes([0, 0, type_code, len(dims)]) + struct.pack('>' + 'I' * len(dims), *dims) + (data if data is not None else bytes(n))
            def archive(path, files):
                with zipfile.ZipFile(path, 'w') as z:
                    for name, content in files.items(): z.writestr(name, content)
            labels_ = bytes([0, 1, 2])
            four = {'train-images-idx3-ubyte': idx([3, 2, 2]), 'train-labels-idx1-ubyte': idx([3], data=labels_),
                    't10k-images-idx3-ubyte.gz': gzip.compress(idx([3, 2, 2])), 't10k-labels-idx1-ubyte': idx([3], data=labels_)}
            archive('good.zip', four)
            archive('missing.zip', {k: v for k, v in four.items() if not k.startswith('t10k-labels')})
            archive('float.zip', four | {'train-images-idx3-ubyte': idx([3, 2, 2], 0x0D, bytes(48))})
            archive('short.zip', four | {'train-images-idx3-ubyte': idx([3, 2, 2])[:-1]})
            archive('stray.zip', four | {'readme.txt': b'hello'})
            archive('twice.zip', four | {'copy/train-images-idx3-ubyte': idx([3, 2, 2])})
            archive('count.zip', four | {'t10k-labels-idx1-ubyte': idx([2], data=bytes([0, 1]))})
            archive('badgz.zip', four | {'t10k-images-idx3-ubyte.gz': gzip.compress(idx([3, 2, 2]))[:-12]})
            """#)
        let good = try read("good.zip")
        XCTAssertEqual(good.summary, DatasetFileSummary(format: .idx, sampleShape: [2, 2], features: 4, classes: 3,
                                                        trainCount: 3, testCount: 3, validationCount: nil))
        let cases: [(String, [String])] = [
            ("missing.zip", ["no test labels"]),
            ("float.zip", ["train-images-idx3-ubyte (x_train): IDX element type 0xD (float32) is not supported"]),
            ("short.zip", ["train-images-idx3-ubyte (x_train): the IDX data is truncated"]),
            ("stray.zip", ["zip entry readme.txt is not one of the IDX files"]),
            ("twice.zip", ["both look like the train images"]),
            ("count.zip", ["y_test: 2 labels for the 3 samples of x_test"]),
            ("badgz.zip", ["t10k-images-idx3-ubyte.gz", "truncated"]),
        ]
        for (file, fragments) in cases { assertError(file, fragments) }
    }

    func testDamagedFilesAreRefusedWithoutTrapping() throws {
        // Random damage to small valid files of every format — bytes changed (mostly where the
        // headers and directories lie), files cut short — must give a DatasetError or a valid
        // read, never a trap (a crash of the server that reads an upload).
        try python(#"""
            x, y = images(4)[:, :3, :3], np.array([0, 1, 2, 1])
            f = rng.standard_normal((4, 2, 3)).astype(np.float32)
            np.savez('stored.npz', x_train=x, y_train=y, x_test=x, y_test=y)
            np.savez_compressed('deflated.npz', x_train=f, y_train=y.astype(np.uint8), x_val=f, y_val=y, x_test=f, y_test=y)
            np.savez('events.npz', x_train_events=np.array([[0, 1, 2], [3, 0, 0]]), x_train_shape=np.array([4, 2, 3]),
                     y_train=y, x_test=f, y_test=y)
            write_safetensors('tensors.safetensors', {'x_train': f.astype(np.float64), 'y_train': y, 'x_test': f, 'y_test': y.astype(np.int32)})
            def idx(dims, data): return bytes([0, 0, 8, len(dims)]) + struct.pack('>' + 'I' * len(dims), *dims) + data
            with zipfile.ZipFile('idx.zip', 'w', zipfile.ZIP_DEFLATED) as z:
                z.writestr('train-images-idx3-ubyte.gz', gzip.compress(idx([4, 3, 3], x.tobytes())))
                z.writestr('train-labels-idx1-ubyte', idx([4], bytes([0, 1, 2, 1])))
                z.writestr('t10k-images-idx3-ubyte', idx([4, 3, 3], x.tobytes()))
                z.writestr('t10k-labels-idx1-ubyte.gz', gzip.compress(idx([4], bytes([0, 1, 2, 1]))))
            """#)
        var random = RandomSource(seed: 20_261_130)
        var outcomes = (read: 0, refused: 0)
        for base in ["stored.npz", "deflated.npz", "events.npz", "tensors.safetensors", "idx.zip"] {
            let original = [UInt8](try Data(contentsOf: directory.appendingPathComponent(base)))
            XCTAssertNoThrow(try read(base), base)
            for trial in 0..<300 {
                var bytes = original
                if trial % 5 == 4 {
                    bytes.removeLast(Int(random.next() % UInt64(bytes.count)) + 1)
                } else {
                    for _ in 0...(random.next() % 4) {
                        // Half of the changes within 160 bytes of either end, where headers and directories are.
                        let near = Int(random.next() % 160)
                        let position: Int
                        switch random.next() % 4 {
                        case 0: position = min(near, bytes.count - 1)
                        case 1: position = max(bytes.count - 1 - near, 0)
                        default: position = Int(random.next() % UInt64(bytes.count))
                        }
                        bytes[position] = [0x00, 0xFF, 0x7F, 0x80, UInt8(truncatingIfNeeded: random.next())][Int(random.next() % 5)]
                    }
                }
                let file = "damaged-\(trial)-\(base)"
                try Data(bytes).write(to: directory.appendingPathComponent(file))
                do {
                    _ = try read(file)
                    outcomes.read += 1
                } catch is DatasetError {
                    outcomes.refused += 1
                }
                try FileManager.default.removeItem(at: directory.appendingPathComponent(file))
            }
        }
        XCTAssertGreaterThan(outcomes.refused, 1000, "most damage is detected (\(outcomes))")
        print("damaged files: \(outcomes)")
    }

    // MARK: - Helpers

    private func read(_ file: String) throws -> DatasetContents {
        try DatasetFile.read(path: directory.appendingPathComponent(file).path, name: "upload")
    }

    /// The message `DatasetFile.read` throws for `file`, or nil (and a failure) if it reads.
    private func error(_ file: String, line: UInt = #line) -> String? {
        do {
            _ = try read(file)
            XCTFail("\(file) was read without error", line: line)
            return nil
        } catch let error as DatasetError {
            return error.description
        } catch {
            XCTFail("\(file): \(error) is not a DatasetError", line: line)
            return nil
        }
    }

    private func assertError(_ file: String, _ fragments: [String], line: UInt = #line) {
        guard let message = error(file, line: line) else { return }
        for fragment in fragments {
            XCTAssertTrue(message.contains(fragment), "\(file): \"\(message)\" does not contain \"\(fragment)\"", line: line)
        }
    }

    /// Compares every split with the floats and labels Python wrote beside the file (`expect`).
    private func assertExpected(_ contents: DatasetContents, _ tag: String, line: UInt = #line) throws {
        var splits = [("train", contents.train), ("test", contents.test)]
        if let validation = contents.validation { splits.append(("val", validation)) }
        for (split, dataset) in splits {
            let xs = try Data(contentsOf: directory.appendingPathComponent("\(tag).\(split).x.f32"))
            let ys = try Data(contentsOf: directory.appendingPathComponent("\(tag).\(split).y.i32"))
            let expectedX = xs.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
            let expectedY = ys.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
            XCTAssertEqual(dataset.labels, expectedY, "\(tag) \(split) labels", line: line)
            XCTAssertEqual(dataset.count * dataset.features, expectedX.count, "\(tag) \(split) size", line: line)
            XCTAssertEqual(dataset.inputs.array.map(\.bitPattern), expectedX, "\(tag) \(split) inputs, bit for bit", line: line)
        }
    }

    /// Runs `script` with python3 in the test's directory, after helpers every script shares.
    private func python(_ script: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.prelude + script]
        process.currentDirectoryURL = directory
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "python3 failed:\n\(text)", file: file, line: line)
        if process.terminationStatus != 0 { throw DatasetError("fixture script failed") }
    }

    private static let prelude = #"""
        import gzip, io, json, os, struct, zipfile
        import numpy as np
        rng = np.random.default_rng(7)

        def images(n):
            return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)

        def labels(n, classes):
            y = rng.integers(0, classes, size=n)
            y[0] = classes - 1
            return y

        def expect(tag, xtr, ytr, xte, yte, xva=None, yva=None):
            # The floats the reader must give: bytes / 255 in float32, anything else cast to float32.
            for split, x, y in (('train', xtr, ytr), ('test', xte, yte), ('val', xva, yva)):
                if x is None: continue
                x = np.asarray(x)
                f = x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x.astype(np.float32)
                f.astype('<f4').tofile(f'{tag}.{split}.x.f32')
                np.asarray(y).astype('<i4').tofile(f'{tag}.{split}.y.i32')

        def safetensors_parts(arrays):
            codes = {'uint8': 'U8', 'int8': 'I8', 'bool': 'BOOL', 'uint16': 'U16', 'int16': 'I16', 'uint32': 'U32',
                     'int32': 'I32', 'uint64': 'U64', 'int64': 'I64', 'float16': 'F16', 'float32': 'F32', 'float64': 'F64'}
            header, body = {}, b''
            for name, a in arrays.items():
                a = np.ascontiguousarray(a)
                data = a.astype(a.dtype.newbyteorder('<')).tobytes()
                header[name] = {'dtype': codes[a.dtype.name], 'shape': list(a.shape), 'data_offsets': [len(body), len(body) + len(data)]}
                body += data
            return header, body

        def write_parts(path, header, body, pad=0):
            text = json.dumps(header).encode() + b' ' * pad
            open(path, 'wb').write(struct.pack('<Q', len(text)) + text + body)

        def write_safetensors(path, arrays, pad=0):
            header, body = safetensors_parts(arrays)
            header['__metadata__'] = {'written_by': 'hand'}
            write_parts(path, header, body, pad)

        def local_data_offset(path, entry):
            with zipfile.ZipFile(path) as z:
                info = z.getinfo(entry)
            raw = open(path, 'rb').read()
            n, m = struct.unpack('<HH', raw[info.header_offset + 26:info.header_offset + 30])
            return info.header_offset + 30 + n + m, info.compress_size

        def patch(source, target, offset, new):
            b = bytearray(open(source, 'rb').read())
            b[offset:offset + len(new)] = new
            open(target, 'wb').write(b)

        """#
}
