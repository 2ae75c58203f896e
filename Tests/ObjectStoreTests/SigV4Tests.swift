import XCTest
import Support
@testable import ObjectStore

/// Signature Version 4 against AWS's published examples: five cases of the AWS SigV4 test suite
/// (`aws-sig-v4-test-suite`: canonical request and Authorization header given for each request)
/// and the S3 documentation's signed GET with a Range header.
final class SigV4Tests: XCTestCase {
    let suite = SigV4(credentials: .init(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                      region: "us-east-1", service: "service")
    let date = "20150830T123600Z"

    func check(_ method: String, _ path: String, query: [(String, String)] = [], headers: [(String, String)], body: String = "",
               canonical: String, signature: String, file: StaticString = #filePath, line: UInt = #line) {
        let hash = SHA256.hex(Array(body.utf8))
        let (request, _) = SigV4.canonicalRequest(method: method, path: path, query: query, headers: headers, payloadHash: hash)
        XCTAssertEqual(request, canonical, file: file, line: line)
        let authz = suite.authorization(method: method, path: path, query: query, headers: headers, payloadHash: hash, amzDate: date)
        let signed = headers.map { $0.0.lowercased() }.sorted().joined(separator: ";")
        XCTAssertEqual(authz, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(signed), Signature=\(signature)",
                       file: file, line: line)
    }

    func testTheAWSTestSuite() {
        let base = [("Host", "example.amazonaws.com"), ("X-Amz-Date", date)]
        check("GET", "/", headers: base,
              canonical: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(SigV4.emptyPayloadHash)",
              signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        check("GET", "/", query: [("Param2", "value2"), ("Param1", "value1")], headers: base,
              canonical: "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(SigV4.emptyPayloadHash)",
              signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
        check("POST", "/", headers: [("Content-Type", "application/x-www-form-urlencoded")] + base, body: "Param1=value1",
              canonical: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
              signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")
        check("POST", "/", headers: [("Host", "example.amazonaws.com"), ("My-Header1", "value1"), ("X-Amz-Date", date)],
              canonical: "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\(SigV4.emptyPayloadHash)",
              signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c")
        check("GET", "/\u{1234}", headers: base,
              canonical: "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(SigV4.emptyPayloadHash)",
              signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")
    }

    /// The S3 documentation's example: GET /test.txt from examplebucket with `Range: bytes=0-9`.
    func testTheS3DocumentationExample() {
        let s3 = SigV4(credentials: .init(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                       region: "us-east-1", service: "s3")
        let headers = [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
                       ("x-amz-content-sha256", SigV4.emptyPayloadHash), ("x-amz-date", "20130524T000000Z")]
        let authz = s3.authorization(method: "GET", path: "/test.txt", query: [], headers: headers,
                                     payloadHash: SigV4.emptyPayloadHash, amzDate: "20130524T000000Z")
        XCTAssertEqual(authz, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        // sign(…) adds the date, payload hash and Authorization itself, with the same result.
        let added = s3.sign(method: "GET", path: "/test.txt", headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
                            payloadHash: SigV4.emptyPayloadHash, date: Date(timeIntervalSince1970: 1_369_353_600))
        XCTAssertEqual(added.first { $0.0 == "Authorization" }?.1, authz)
        XCTAssertEqual(added.first { $0.0 == "x-amz-date" }?.1, "20130524T000000Z")
    }

    /// The S3 documentation's two signed requests with a query: GET Bucket Lifecycle (`?lifecycle`,
    /// a parameter without a value) and GET Bucket, list objects (`?max-keys=2&prefix=J`, given
    /// out of order here: the canonical query sorts them).
    func testTheS3DocumentationExamplesWithAQuery() {
        let s3 = SigV4(credentials: .init(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                       region: "us-east-1", service: "s3")
        let headers = [("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-content-sha256", SigV4.emptyPayloadHash),
                       ("x-amz-date", "20130524T000000Z")]
        let prefix = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="
        let (lifecycle, _) = SigV4.canonicalRequest(method: "GET", path: "/", query: [("lifecycle", "")], headers: headers,
                                                    payloadHash: SigV4.emptyPayloadHash)
        XCTAssertEqual(lifecycle.split(separator: "\n", omittingEmptySubsequences: false)[2], "lifecycle=")
        XCTAssertEqual(s3.authorization(method: "GET", path: "/", query: [("lifecycle", "")], headers: headers,
                                        payloadHash: SigV4.emptyPayloadHash, amzDate: "20130524T000000Z"),
                       prefix + "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
        XCTAssertEqual(s3.authorization(method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: headers,
                                        payloadHash: SigV4.emptyPayloadHash, amzDate: "20130524T000000Z"),
                       prefix + "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
        // Names and values are percent-encoded (space as %20, / and = too), then sorted by name.
        let (request, _) = SigV4.canonicalRequest(method: "GET", path: "/b", query: [("prefix", "a b/c="), ("list-type", "2"), ("continuation-token", "x+y")],
                                                  headers: headers, payloadHash: SigV4.emptyPayloadHash)
        XCTAssertEqual(request.split(separator: "\n", omittingEmptySubsequences: false)[2],
                       "continuation-token=x%2By&list-type=2&prefix=a%20b%2Fc%3D")
    }

    /// HMAC-SHA-256 against RFC 4231's test cases 1 and 6 (a key longer than the block).
    func testHMACAgainstRFC4231() {
        XCTAssertEqual(HMAC.hex(HMAC.sha256(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))),
                       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        XCTAssertEqual(HMAC.hex(HMAC.sha256(key: [UInt8](repeating: 0xaa, count: 131), message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))),
                       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }
}
