import Testing
@testable import ObjectStore

@Suite struct S3SettingsTests {
    private func settings(endpoint: String = "http://127.0.0.1:8333", bucket: String = "cache", prefix: String = "",
                          region: String = "us-east-1", access: String? = "K", secret: String? = "S") -> Result<S3Settings, S3SettingsError> {
        S3Settings.make(endpoint: endpoint, bucket: bucket, prefix: prefix, region: region, accessKey: access, secretKey: secret, sessionToken: nil)
    }

    @Test func urlsArePathStyleWithEachSegmentEncoded() throws {
        let s = try settings(endpoint: "http://127.0.0.1:8333/", prefix: "/team+a").get()
        #expect(s.prefix == "team+a/")
        #expect(s.url(for: "files/ab12/x+y-1.0.whl") == "http://127.0.0.1:8333/cache/team%2Ba/files/ab12/x%2By-1.0.whl")
        #expect(s.bucketURL == "http://127.0.0.1:8333/cache")
    }

    @Test func badValuesAreRefusedWithAReason() {
        for bad in [settings(endpoint: "ftp://x"), settings(endpoint: "http://h/path"), settings(bucket: "A_b"), settings(bucket: "ab"),
                    settings(region: ""), settings(prefix: "a/../b"), settings(prefix: "a b"), settings(access: nil), settings(secret: "")] {
            guard case .failure(let error) = bad else { Issue.record("accepted \(bad)"); continue }
            #expect(!error.description.isEmpty && !error.description.contains("\n"))
        }
    }

    @Test func errorCodeIsReadFromTheS3ErrorDocument() {
        let xml = Array("<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>m</Message></Error>".utf8)
        #expect(S3Call.errorCode(in: xml) == "SignatureDoesNotMatch")
        #expect(S3Call.errorCode(in: Array("nothing".utf8)) == nil)
    }
}

@Suite struct S3MultipartTests {
    @Test func uploadIdAndErrorCodeAreReadFromTheAnswers() {
        let created = Array("<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>a1_b2</UploadId></InitiateMultipartUploadResult>".utf8)
        #expect(S3MultipartUpload.element("UploadId", in: created) == "a1_b2")
        #expect(S3MultipartUpload.element("Code", in: created) == nil)
        #expect(S3MultipartUpload.escape("\"e<&>\"") == "\"e&lt;&amp;&gt;\"")
    }
}
