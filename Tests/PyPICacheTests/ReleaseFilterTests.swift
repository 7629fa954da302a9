import Testing
@testable import PyPICache

/// The page policies (issue 17): cooldown, snapshot date, allow/deny lists, on
/// hand-made pages and a fixed time.
@Suite struct ReleaseFilterTests {
    let demo = ProjectName("demo")!
    /// 2024-01-10T00:00:00Z.
    let now = RFC3339.seconds("2024-01-10T00:00:00Z")!

    func file(_ version: String, uploaded: String?) -> DistributionFile {
        DistributionFile(filename: "demo-\(version).tar.gz", url: "https://files.example/demo-\(version).tar.gz", uploadTime: uploaded)
    }

    var page: ProjectPage {
        ProjectPage(name: "demo", files: [file("1.0", uploaded: "2024-01-02T00:00:00Z"), file("2.0", uploaded: "2024-01-09T12:00:00.5Z"),
                                          file("3.0", uploaded: nil)])
    }

    @Test func timestampsAndDurationsParse() {
        #expect(RFC3339.seconds("1970-01-01T00:00:00Z") == 0)
        #expect(RFC3339.seconds("2024-01-02T00:00:00Z") == 1_704_153_600)
        #expect(RFC3339.seconds("2024-01-02T01:00:00+01:00") == 1_704_153_600)
        #expect(RFC3339.seconds("2024-01-02") == 1_704_153_600)
        #expect(RFC3339.seconds("2024-01-02T00:00:00.250Z") == 1_704_153_600.25)
        for bad in ["", "2024-13-01", "2024-02-30T00:00:00Z", "2024-01-02T00:00:00", "2024-01-02T25:00:00Z", "yesterday", "2024-01-02T00:00:00Zx"] {
            #expect(RFC3339.seconds(bad) == nil, "\(bad)")
        }
        #expect(RFC3339.duration("7d") == 604_800)
        #expect(RFC3339.duration("36h") == 129_600)
        #expect(RFC3339.duration("90m") == 5_400)
        #expect(RFC3339.duration("3600s") == 3_600)
        for bad in ["", "d", "-1d", "1.5d", "7 days", "7y"] { #expect(RFC3339.duration(bad) == nil, "\(bad)") }
    }

    @Test func noPolicyChangesNothing() {
        let (shown, changesAt) = ReleaseFilter().apply(page, as: demo, now: now)
        #expect(shown == page)
        #expect(changesAt == nil)
    }

    @Test func minAgeHidesYoungFilesUntilTheyAreOldEnough() {
        var filter = ReleaseFilter()
        filter.minAgeSeconds = 86_400
        let (shown, changesAt) = filter.apply(page, as: demo, now: now)
        // 2.0 is 12 h old; 3.0 has no upload time and is shown.
        #expect(shown.files.map(\.version) == ["1.0", "3.0"])
        #expect(shown.versions == ["1.0", "3.0"])
        #expect(changesAt == RFC3339.seconds("2024-01-10T12:00:00.5Z"))
        #expect(filter.apply(page, as: demo, now: changesAt!).page.files.count == 3)
        filter.minAgeExempt = [demo]
        #expect(filter.apply(page, as: demo, now: now).page.files.count == 3)
    }

    @Test func excludeNewerKeepsFilesUploadedAtOrBeforeIt() {
        var filter = ReleaseFilter()
        filter.excludeNewer = RFC3339.seconds("2024-01-02T00:00:00Z")
        let (shown, changesAt) = filter.apply(page, as: demo, now: now)
        #expect(shown.files.map(\.version) == ["1.0", "3.0"])
        #expect(changesAt == nil)
        // Hidden by the snapshot date too: the cooldown never lets it in.
        filter.minAgeSeconds = 86_400
        #expect(filter.apply(page, as: demo, now: now).changesAt == nil)
    }

    @Test func denyListRefusesProjectsAndHidesVersions() throws {
        var filter = ReleaseFilter()
        filter.deny = try ReleaseList(parsing: "# comment\nEvil_Pkg\ndemo == V2.0  # bad release\n\n", source: "deny")
        #expect(filter.projectRefusal(ProjectName("evil.pkg")!) != nil)
        #expect(filter.projectRefusal(demo) == nil)
        // Lists written on Windows (CRLF) read the same.
        #expect(try ReleaseList(parsing: "Evil_Pkg\r\n# c\r\ndemo == V2.0\r\n", source: "deny") == filter.deny)
        let shown = filter.apply(page, as: demo, now: now).page
        #expect(shown.files.map(\.version) == ["1.0", "3.0"])
        #expect(shown.versions == ["1.0", "3.0"])
    }

    @Test func allowListServesOnlyWhatItNames() throws {
        var filter = ReleaseFilter()
        filter.allow = try ReleaseList(parsing: "demo==1.0\nother\n", source: "allow")
        #expect(filter.projectRefusal(ProjectName("unlisted")!) != nil)
        #expect(filter.projectRefusal(ProjectName("other")!) == nil)
        #expect(filter.apply(page, as: demo, now: now).page.files.map(\.version) == ["1.0"])
    }

    @Test func listsRefuseWhatTheyCannotHonour() {
        for bad in ["demo=1.0", "demo>=", "demo~=1", "demo==1.0,", "demo>=1,,<2", "not a name", "demo==1.0,2.0", "demo[extra]>=1", "demo>=1.0; python_version<'3'"] {
            #expect(throws: ReleaseList.Problem.self, "\(bad)") { try ReleaseList(parsing: bad, source: "f") }
        }
    }
}
