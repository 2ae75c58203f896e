import Support
import XCTest
@testable import Engine

final class EngineSupportTests: XCTestCase {
    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let million = Data(repeating: UInt8(ascii: "a"), count: 1_000_000)
        XCTAssertEqual(SHA256.hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testSafetensorsRoundTripAndLayout() throws {
        let file = Safetensors.File(tensors: ["w": .init(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]), "b": .init(shape: [3], values: [-1, 0, 1])],
                                    metadata: ["step": "7"])
        let bytes = Safetensors.encode(file)
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual((8 + headerLength) % 8, 0, "tensor data starts 8-byte aligned")
        XCTAssertEqual(bytes.count, 8 + headerLength + 9 * 4)
        XCTAssertEqual(try Safetensors.decode(bytes), file)
    }

    func testSafetensorsRejectsMalformedFiles() {
        let good = Safetensors.encode(.init(tensors: ["w": .init(shape: [2], values: [1, 2])]))
        XCTAssertThrowsError(try Safetensors.decode(good.prefix(5)))
        XCTAssertThrowsError(try Safetensors.decode(good.prefix(good.count - 1)))
        var huge = good
        huge[7] = 0x7f
        XCTAssertThrowsError(try Safetensors.decode(huge))
        func withHeader(_ json: String, body: Int) -> Data {
            var d = Data()
            var n = UInt64(json.utf8.count).littleEndian
            withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
            d.append(Data(json.utf8))
            d.append(Data(count: body))
            return d
        }
        XCTAssertThrowsError(try Safetensors.decode(withHeader(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, body: 12)))
        XCTAssertThrowsError(try Safetensors.decode(withHeader(#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, body: 4)))
        XCTAssertThrowsError(try Safetensors.decode(withHeader(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, body: 8)))
        XCTAssertThrowsError(try Safetensors.decode(withHeader("not json", body: 0)))
        // Hostile numbers must throw, never trap (integer conversion or overflow).
        XCTAssertThrowsError(try Safetensors.decode(withHeader(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[1e300,1e301]}}"#, body: 8)))
        XCTAssertThrowsError(try Safetensors.decode(withHeader(#"{"a":{"dtype":"F32","shape":[999999999999,999999999999,999999999999],"data_offsets":[0,8]}}"#, body: 8)))
        XCTAssertThrowsError(try Safetensors.decode(withHeader(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"#, body: 8)))
    }

    func testRandomSourceIsDeterministicAndResumable() {
        var a = RandomSource(seed: 42)
        var b = RandomSource(seed: 42)
        XCTAssertEqual((0..<10).map { _ in a.next() }, (0..<10).map { _ in b.next() })
        var c = RandomSource(words: a.words)
        XCTAssertEqual(a.next(), c.next())
        XCTAssertNotEqual(RandomSource(seed: 1).words, RandomSource(seed: 2).words)
        var p = RandomSource(seed: 3)
        XCTAssertEqual(p.permutation(100).sorted(), (0..<100).map { Int32($0) })
    }

    func testSpecValidationNamesTheField() {
        func error(_ json: String) -> SpecError? {
            do {
                _ = try ExperimentSpec.parse(JSONValue.parse(Data(json.utf8))!)
                return nil
            } catch { return error }
        }
        XCTAssertEqual(error(#"{}"#)?.field, "model")
        XCTAssertEqual(error(#"{"model":{"layers":[784,0,10]}}"#)?.field, "model.layers[1]")
        XCTAssertEqual(error(#"{"model":{"layers":[100,10]}}"#)?.field, "model.layers[0]")
        XCTAssertEqual(error(#"{"model":{"layers":[784,10,9]}}"#)?.field, "model.layers[2]")
        XCTAssertEqual(error(#"{"model":{"layers":"784"}}"#)?.field, "model.layers")
        XCTAssertEqual(error(#"{"model":{"layers":[784,4096,4096,10]}}"#)?.field, "model.layers")
        XCTAssertEqual(error(#"{"model":{"layers":[784,10],"activation":"gelu"}}"#)?.field, "model.activation")
        XCTAssertEqual(error(#"{"model":{"layers":[784,10]},"optimizer":{"learning_rate":0}}"#)?.field, "optimizer.learning_rate")
        XCTAssertEqual(error(#"{"model":{"layers":[784,10]},"optimizer":{"batch_size":1.5}}"#)?.field, "optimizer.batch_size")
        XCTAssertEqual(error(#"{"model":{"layers":[784,10]},"protocol":{"epochs":100000}}"#)?.field, "protocol.epochs")
        XCTAssertEqual(error(#"{"model":{"layers":[784,10]},"data":{"train_limit":0}}"#)?.field, "data.train_limit")
        XCTAssertEqual(error(#"{"model":{"layers":[784,10]},"data":{"dataset":"cifar"}}"#)?.field, "data.dataset")
        XCTAssertEqual(error(#"{"model":{"layers":[784,10]},"learning_rate":1}"#)?.field, "learning_rate")
        XCTAssertEqual(error(#"{"model":{"layers":[784,10]},"seed":-1}"#)?.field, "seed")
        XCTAssertNil(error(#"{"model":{"layers":[784,10]}}"#))
    }

    func testSpecDefaultsAndCanonicalForm() throws {
        let spec = try ExperimentSpec.parse(JSONValue.parse(Data(#"{"model":{"layers":[784,32,10]},"data":{"train_limit":1000}}"#.utf8))!)
        XCTAssertEqual(spec.optimizer.kind, .sgd)
        XCTAssertEqual(spec.optimizer.learningRate, 0.05)
        XCTAssertEqual(spec.optimizer.batchSize, 64)
        XCTAssertEqual(spec.stepsPerEpoch, 16)
        let again = try JSONDecoder().decode(ExperimentSpec.self, from: spec.canonicalJSON())
        XCTAssertEqual(again, spec)
        XCTAssertEqual(again.hash, spec.hash)
    }
}

final class ExampleSpecTests: XCTestCase {
    /// Every file in examples/ is, as it is, a valid run spec body.
    func testExamplesAreValidSpecs() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        XCTAssertTrue(files.contains("mlp-fashion-mnist.json"))
        for f in files {
            let json = try XCTUnwrap(JSONValue.parse(try Data(contentsOf: dir.appendingPathComponent(f))), f)
            XCTAssertNoThrow(try ExperimentSpec.parse(json), f)
        }
    }

    /// Every file in examples/adaptation/ is, as it is, a valid adaptation policy.
    func testAdaptationExamplesAreValidPolicies() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/adaptation")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        XCTAssertFalse(files.isEmpty)
        for f in files {
            let json = try XCTUnwrap(JSONValue.parse(try Data(contentsOf: dir.appendingPathComponent(f))), f)
            XCTAssertNoThrow(try AdaptationPolicy(json: json, allowing: ["canary"]), f)
        }
    }
}

final class JSONSerializationTests: XCTestCase {
    func testSerializedJSONRoundTripsAndSortsKeys() throws {
        let value = JSONValue.object([
            "z": .array([.number(1), .number(-2.5), .number(1e-8), .number(123456789012), .null, .bool(true), .bool(false)]),
            "a": .string("quote \" backslash \\ newline \n tab \t control \u{01} unicode é ✓"),
            "m": .object(["nested": .array([])]),
        ])
        let data = value.serialized()
        XCTAssertEqual(JSONValue.parse(data), value)
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(#"{"a":"#))
        XCTAssertTrue(text.contains(#""z":[1,-2.5,1e-08,123456789012,null,true,false]"#), text)
        XCTAssertTrue(text.contains(#"\u0001"#))
        XCTAssertEqual(String(decoding: JSONValue.number(.nan).serialized(), as: UTF8.self), "null")
    }
}

final class JSONParserTests: XCTestCase {
    func testParsesWhatJSONDecoderParses() throws {
        let samples = [#"{"a": [1, -2.5e3, 0.125, true, false, null], "b": {"c": "x\"y\\z\n\u00e9\ud83d\ude00"}, "": []}"#,
                       "  [ ]  ", "0", "-0.0", "\"\"", #"{"k":1,"k":2}"#, "1E+2", "[[[[1]]]]"]
        for text in samples {
            let fast = JSONValue.parse(Data(text.utf8))
            let reference = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            XCTAssertNotNil(fast, text)
            XCTAssertEqual(fast, reference, text)
        }
        XCTAssertEqual(JSONValue.parse(Data(#"{"s": "\ud83d\ude00"}"#.utf8)), .object(["s": .string("😀")]))
    }

    /// The exact fast path for short decimals agrees bit for bit with strtod.
    func testNumbersMatchStrtodBitForBit() {
        var rng = RandomSource(seed: 11)
        var texts = ["0", "-0", "0.1", "0.3", "1.0", "123456789012345", "-999999999999999", "0.000000000000001",
                     "9007199254740993", "1234567890.12345", "0.12345678901234567", "1.5e3", "2.2250738585072014e-308"]
        for _ in 0..<100_000 {
            let intDigits = rng.below(8), fracDigits = rng.below(12)
            var t = rng.below(2) == 0 ? "-" : ""
            t += intDigits == 0 ? "0" : String(rng.below(9) + 1) + (0..<(intDigits - 1)).map { _ in String(rng.below(10)) }.joined()
            if fracDigits > 0 { t += "." + (0..<fracDigits).map { _ in String(rng.below(10)) }.joined() }
            texts.append(t)
        }
        for t in texts {
            guard case .number(let d)? = JSONValue.parse(Data(t.utf8)) else { return XCTFail(t) }
            XCTAssertEqual(d.bitPattern, strtod(t, nil).bitPattern, t)
        }
    }

    func testRejectsInvalidJSONAndDeepNesting() {
        for text in ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", ".5", "+1", "tru", "\"\\x\"", "\"a", "[1] x", "{\"a\":1,}",
                     "\"\\ud800\"", "NaN", "1e999", "\"tab\there\"", "{1: 2}"] {
            XCTAssertNil(JSONValue.parse(Data(text.utf8)), text)
        }
        XCTAssertNil(JSONValue.parse(Data((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8)))
        XCTAssertNotNil(JSONValue.parse(Data((String(repeating: "[", count: 200) + String(repeating: "]", count: 200)).utf8)))
    }
}
