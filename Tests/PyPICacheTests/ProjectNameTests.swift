import Testing
@testable import PyPICache

@Suite struct ProjectNameTests {
    @Test(arguments: [
        ("Django", "django"), ("zope.interface", "zope-interface"), ("Foo__Bar--baz", "foo-bar-baz"),
        ("a", "a"), ("A.B-C_D", "a-b-c-d"), ("ruamel.yaml.clib", "ruamel-yaml-clib"), ("Epsilon_Pkg", "epsilon-pkg"),
    ])
    func normalizes(raw: String, expected: String) {
        #expect(ProjectName(raw)?.normalized == expected)
    }

    @Test(arguments: ["", "-a", "a-", ".a", "a b", "a/b", "..", "a%2e", "é", String(repeating: "a", count: 201)])
    func rejectsInvalid(raw: String) {
        #expect(ProjectName(raw) == nil)
    }

    @Test func guessesProjectFromFilename() {
        #expect(ProjectName.guess(fromFilename: "Django-4.2-py3-none-any.whl")?.normalized == "django")
        #expect(ProjectName.guess(fromFilename: "zope.interface-6.0.tar.gz")?.normalized == "zope-interface")
        #expect(ProjectName.guess(fromFilename: "lambda_pkg-1.0-py3-none-any.whl")?.normalized == "lambda-pkg")
        #expect(ProjectName.guess(fromFilename: "my-pkg-2.0.tar.gz")?.normalized == "my-pkg")
        #expect(ProjectName.guess(fromFilename: "noversion.tar.gz") == nil)
    }
}

@Suite struct FileKeyTests {
    @Test func buildsDevpiPathFromHash() {
        let sha = "b875ca1f3a01bf0ea73cfab37e8e079a38d7c65f624abf8e80dafe802956f739"
        let key = FileKey(sha256: sha, filename: "alpha-1.0-py3-none-any.whl")
        #expect(key?.relativePath == "b87/5ca1f3a01bf0e/alpha-1.0-py3-none-any.whl")
    }

    @Test(arguments: ["..", ".", ".hidden", "a/b", "a\\b", "", "sp ace", "nul\u{0}"])
    func refusesUnsafeFilenames(name: String) {
        #expect(FileKey(hashDirectory: "abc", hashSubdirectory: "0123456789abc", filename: name) == nil)
    }

    @Test func refusesNonHexDirectories() {
        #expect(FileKey(hashDirectory: "ab/", hashSubdirectory: "0123456789abc", filename: "a.whl") == nil)
        #expect(FileKey(hashDirectory: "abc", hashSubdirectory: "0123456789ab", filename: "a.whl") == nil)
        #expect(FileKey(hashDirectory: "ABC", hashSubdirectory: "0123456789abc", filename: "a.whl") == nil)
        #expect(FileKey(sha256: "abc", filename: "a.whl") == nil)
    }
}

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func streamingMatchesOneShotAtEverySplit() {
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let whole = SHA256.hex(data)
        for split in [0, 1, 55, 56, 63, 64, 65, 128, 299, 300] {
            var h = SHA256()
            h.update(Array(data.prefix(split)))
            h.update(Array(data.dropFirst(split)))
            #expect(h.finalizeHex() == whole, "split at \(split)")
        }
        var million = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { million.update(chunk) }
        #expect(million.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
