import XCTest
import Support
@testable import API

/// The prediction route reads its body straight into rows of floats; it must read exactly what
/// the general JSON parser reads, and leave every other body to it (which names the fault).
final class PredictBodyTests: XCTestCase {
    func testTheFastReaderAgreesWithTheGeneralParser() throws {
        var rng = SystemRandomNumberGenerator()
        var bodies = [
            #"{"inputs": [[0, 1.5, -2e-3, 0.30000000000000004, 1E2, 123456789012345678]]}"#,
            #" { "task" : 2 , "inputs" : [ [ 0.25 ] , [ 1 ] ] } "#,
            #"{"inputs": [[1, 2]], "task": null}"#,
            #"{"inputs": []}"#,
            #"{"inputs": [[]]}"#,
        ]
        for _ in 0..<200 {
            let row = (0..<Int.random(in: 1...40, using: &rng)).map { _ in String(Double.random(in: -1e6...1e6, using: &rng)) }
            bodies.append(#"{"inputs": [[\#(row.joined(separator: ","))]]}"#)
        }
        // Image rows as clients send them (short decimals), rows longer than the first allocation,
        // a short row after a long one, and every kind of JSON whitespace between tokens.
        let pixels = (0..<3000).map { k -> String in
            let x = Double(Int.random(in: 0...255, using: &rng)) / 255
            return k % 3 == 0 ? String(x) : String(format: "%.\(k % 16)f", x)   // 0 to 15 decimals
        }
        bodies.append(#"{"inputs": [[\#(pixels[..<784].joined(separator: ","))], [\#(pixels[784...].joined(separator: ", "))]]}"#)
        bodies.append(#"{"inputs": [[\#(pixels.joined(separator: ","))], [1, 2]]}"#)
        bodies.append("{\"inputs\":\t[\r\n[ -0 ,\n0.5\t,\r1e-7 ] ,[\n-0.0]\n]\n}")
        bodies.append(#"{"inputs": [[1e38, 3.5e38, -1e-50, 1234567890123456, 0.1234567890123456789]]}"#)
        for body in bodies {
            let fast = try XCTUnwrap(ServiceAPI.fastPredictBody(Data(body.utf8)), body)
            guard case .object(let o)? = JSONValue.parse(Data(body.utf8)), case .array(let rows)? = o["inputs"] else { return XCTFail(body) }
            let general = rows.map { r -> [Float] in
                guard case .array(let xs) = r else { return [] }
                return xs.map { if case .number(let d) = $0 { return Float(d) } else { return .nan } }
            }
            XCTAssertEqual(fast.inputs.map { $0.map(\.bitPattern) }, general.map { $0.map(\.bitPattern) }, body)
            XCTAssertEqual(fast.task, o["task"]?.intValue, body)
        }
    }

    func testAnythingElseIsLeftToTheGeneralParser() {
        for body in [#"{}"#, #"{"inputs": [[1]], "extra": 1}"#, #"{"inputs": [[1, "2"]]}"#, #"{"inputs": [[1]], "task": -1}"#,
                     #"{"inputs": [[1]], "task": 1.5}"#, #"{"inputs": [[1]]} x"#, #"{"inputs": [[1]], "inputs": [[2]]}"#,
                     #"{"inputs": [1, 2]}"#, #"{"in\u0070uts": [[1]]}"#, #"{"inputs": [[01]]}"#, #"{"inputs": [[1,]]}"#, #"["#, "",
                     #"{"inputs": [[1e400]]}"#, #"{"inputs": [[1.]]}"#, #"{"inputs": [[-]]}"#, #"{"inputs": [[+1]]}"#,
                     #"{"inputs": [[1e]]}"#, #"{"inputs": [[.5]]}"#, #"{"inputs": [[1 2]]}"#, #"{"inputs": [[1]"#, #"{"inputs": [[1"#] {
            XCTAssertNil(ServiceAPI.fastPredictBody(Data(body.utf8)), body)
        }
    }
}

/// The v2 `infer` request: the fast reader reads what the general reading reads, and leaves the
/// rest (other keys, odd shapes, errors) to it.
final class V2InferRequestTests: XCTestCase {
    private func fast(_ text: String) -> V2InferRequest? {
        Array(text.utf8).withUnsafeBufferPointer { V2InferRequest.fast($0) }
    }

    private func general(_ text: String, width: Int) throws -> V2InferRequest {
        try V2InferRequest.parse(try XCTUnwrap(JSONValue.parse(Data(text.utf8))), inputWidth: width)
    }

    func testTheFastReaderAgreesWithTheGeneralReading() throws {
        let bodies: [(String, Int)] = [
            (#"{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [0.5, -1e-3, 0.1234]}]}"#, 3),
            (#"{"id": "r-1", "inputs": [{"datatype": "FP64", "data": [[1, 2], [3.25, 4]], "shape": [2, 2], "name": "x"}]}"#, 2),
            (#" { "inputs" : [ { "name" : "in" , "shape" : [ 2 , 3 ] , "datatype" : "FP32" , "parameters" : { "binary_data_size" : 24 } } ] , "id" : "b" } "#, 3),
            (#"{"inputs": [{"name": "input", "shape": [1, 0], "datatype": "FP32", "data": []}]}"#, 0),
        ]
        for (body, width) in bodies {
            let f = try XCTUnwrap(fast(body), body)
            let g = try general(body, width: width)
            XCTAssertEqual(f.id, g.id, body)
            XCTAssertEqual([f.rows, f.cols], [g.rows, g.cols], body)
            XCTAssertEqual(f.datatype, g.datatype, body)
            XCTAssertEqual(f.values?.map(\.bitPattern), g.values?.map(\.bitPattern), body)
            XCTAssertEqual(f.binaryDataSize, g.binaryDataSize, body)
            XCTAssertEqual(f.task, g.task, body)
            XCTAssertEqual(f.binaryOutput, g.binaryOutput, body)
        }
    }

    func testAnythingElseIsLeftToTheGeneralReading() {
        for body in [
            #"{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}], "parameters": {"task": 1}}"#,
            #"{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}], "outputs": [{"name": "p"}]}"#,
            #"{"inputs": [{"name": "a", "shape": [1, 1], "datatype": "FP32", "data": [1]}, {"name": "b", "shape": [1, 1], "datatype": "FP32", "data": [1]}]}"#,
            #"{"inputs": [{"name": "input", "shape": [1, 3.5], "datatype": "FP32", "data": [1, 2, 3]}]}"#,
            #"{"inputs": [{"name": "input", "shape": [1, 784.0000001], "datatype": "FP32", "data": [1]}]}"#,
            #"{"inputs": [{"name": "input", "shape": [0, 3], "datatype": "FP32", "data": []}]}"#,
            #"{"inputs": [{"name": "input", "shape": [1, 3, 1], "datatype": "FP32", "data": [1, 2, 3]}]}"#,
            #"{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "INT8", "data": [1, 2, 3]}]}"#,
            #"{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32"}]}"#,
            #"{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3], "parameters": {"binary_data_size": 12}}]}"#,
            #"{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [[[1, 2, 3]]]}]}"#,
            #"{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, "2", 3]}]}"#,
            #"{"id": 7, "inputs": [{"name": "input", "shape": [1, 1], "datatype": "FP32", "data": [1]}]}"#,
            #"{"id": "a\"b", "inputs": [{"name": "input", "shape": [1, 1], "datatype": "FP32", "data": [1]}]}"#,
            #"{"inputs": [{"name": "input", "shape": [1, 1], "datatype": "FP32", "data": [1]}], "inputs": []}"#,
            #"{"inputs": [{"name": "input", "shape": [1, 1], "datatype": "FP32", "data": [1]}]} x"#,
            #"[]"#, "",
        ] {
            XCTAssertNil(fast(body), body)
        }
    }
}
