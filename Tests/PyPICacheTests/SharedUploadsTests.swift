import Testing
@testable import PyPICache

@Suite struct SharedUploadsTests {
    private let sha = String(repeating: "ab", count: 32)

    @Test func journalMarkersNameTheHashAndTheFile() throws {
        let pending = try #require(SharedUploads.parse("\(sha)-alpha-1.0-py3-none-any.whl"))
        #expect(pending.sha256 == sha)
        #expect(pending.key == FileKey(sha256: sha, filename: "alpha-1.0-py3-none-any.whl"))
        #expect(SharedUploads.parse("\(sha)-x.whl.metadata")?.key.filename == "x.whl.metadata")
    }

    @Test func foreignOrDamagedMarkersAreIgnored() {
        for bad in ["", "notes.txt", "\(sha)-", "\(sha)x.whl", String(repeating: "zz", count: 32) + "-x.whl", "\(sha)-../x.whl", "\(sha)-.hidden"] {
            #expect(SharedUploads.parse(bad) == nil, "\(bad)")
        }
    }
}
