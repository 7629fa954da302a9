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

/// The byte-wise reading of weighted lists keeps the meaning of the String one it replaced.
@Suite struct WeightedListEdgeTests {
    @Test func casesSpacesTabsAndParameters() {
        let list = WeightedList("\tTEXT/Html ;\tQ=0.25 ,application/VND.pypi.simple.v1+JSON;charset=utf-8 ;q=0.9,,;q=1, x;;q=0.5")
        #expect(list.items.map(\.value) == ["text/html", "application/vnd.pypi.simple.v1+json", "x"])
        #expect(list.items.map(\.q) == [0.25, 0.9, 0.5])
        #expect(WeightedList("").items.isEmpty && WeightedList(",,,").items.isEmpty && WeightedList(" \t ").items.isEmpty)
        #expect(WeightedList("gzip;q=").items.map(\.q) == [0], "an empty weight is unreadable")
        #expect(WeightedList("Ä/B;q=1").items.map(\.value) == ["ä/b"])
    }

    @Test func pipsHeadersNegotiateAsBefore() {
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
        #expect(PageFormat.negotiate(accept: pip) == .json)
        #expect(PageFormat.negotiate(accept: "text/html; q=0.01, application/vnd.pypi.simple.v1+html; q=0.1") == .html)
        #expect(PageFormat.negotiate(accept: "   ") == .legacyHTML)
        #expect(PageFormat.negotiate(accept: "image/png") == nil)
        #expect(PageFormat.negotiate(accept: "application/*") == .json)
    }
}
