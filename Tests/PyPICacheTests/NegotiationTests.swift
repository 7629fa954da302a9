import Testing
@testable import PyPICache

/// The one q-value parser, as pages, /+status and gzip use it.
@Suite struct WeightedListTests {
    @Test func readsValuesAndQValues() {
        let list = WeightedList("Text/HTML;level=1;q=0.5, application/json , */*;q=0, gzip;q=abc")
        #expect(list.items.map(\.value) == ["text/html", "application/json", "*/*", "gzip"])
        #expect(list.quality(of: "text/html") == 0.5)
        #expect(list.quality(of: "application/json") == 1)
        #expect(list.quality(of: "*/*") == 0)
        #expect(list.quality(of: "gzip") == 0, "an unreadable weight is no preference")
        #expect(list.quality(of: "image/png") == nil)
        #expect(WeightedList(" , ;q=1,").items.isEmpty)
    }

    @Test func gzipIsAcceptedByNameOrWildcardUnlessRefused() {
        #expect(Gzip.accepted(by: "gzip, deflate"))
        #expect(Gzip.accepted(by: "br;q=1.0, *;q=0.1"))
        #expect(Gzip.accepted(by: "x-gzip"))
        #expect(!Gzip.accepted(by: "gzip;q=0"))
        #expect(!Gzip.accepted(by: "identity"))
        #expect(!Gzip.accepted(by: nil))
    }
}
