import Foundation
import Glibc
import Reactor
import Testing
@testable import PyPICache

/// glibc's malloc_trim, which the Glibc module does not export.
@_silgen_name("malloc_trim") private func releaseFreeMemory(_ pad: Int) -> Int32

/// The new reader against the decoder it replaced, on the same pages.
@Suite struct OldDecoderEquivalenceTests {
    @Test func generatedPagesReadAsTheOldDecoderReadThem() throws {
        let generated = PageFixtures.json(files: 3000)
        var oldSkipped = 0, newSkipped = 0
        let old = try OldPageDecoder.parseJSON(generated.body, baseURL: PageFixtures.base, project: ProjectName("big")!, skipped: &oldSkipped)
        let new = try UpstreamPageParser.parseJSON(generated.body, baseURL: PageFixtures.base, project: ProjectName("big")!, skipped: &newSkipped)
        #expect(old == new && oldSkipped == newSkipped)
        #expect(old == generated.expected, "the fixture's expectations are the old decoder's reading")
    }

    @Test func oddEntriesReadAsTheOldDecoderReadThem() throws {
        let odd = Array(UpstreamPageReaderTests().oddPage.utf8)
        let base = "https://index.example/simple/demo/"
        var oldSkipped = 0, newSkipped = 0
        let old = try OldPageDecoder.parseJSON(odd, baseURL: base, project: ProjectName("demo")!, skipped: &oldSkipped)
        let new = try UpstreamPageParser.parseJSON(odd, baseURL: base, project: ProjectName("demo")!, skipped: &newSkipped)
        #expect(old == new && oldSkipped == newSkipped)
    }
}

/// `WHEELHOUSE_PARSE_BENCH=old|new swift test -c release -Xswiftc -enable-testing --filter ParseBenchmark`:
/// parse time and peak memory of a 100,000-file page (one process per side, so one
/// side's freed memory cannot hide the other's peak).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["WHEELHOUSE_PARSE_BENCH"] != nil))
struct ParseBenchmark {
    static func status(_ field: String) -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0").map { $0 * 1024 } ?? 0
    }

    /// Resets VmHWM to the current RSS (Linux: "5" to clear_refs).
    static func resetPeak() {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        if fd >= 0 { _ = write(fd, "5", 1); close(fd) }
    }

    @Test func hundredThousandFiles() throws {
        let side = ProcessInfo.processInfo.environment["WHEELHOUSE_PARSE_BENCH"] ?? "new"
        let generated = PageFixtures.json(files: 100_000, plain: true)
        let project = ProjectName("big")!
        // What generating the page freed goes back to the kernel, so it cannot hide either side's peak.
        _ = releaseFreeMemory(0)
        ParseBenchmark.resetPeak()
        let rssBefore = ParseBenchmark.status("VmRSS")
        let start = EventLoop.threadCPUTime()
        var slowestChunk: UInt64 = 0
        let page: ProjectPage
        if side == "old" {
            var skipped = 0
            page = try OldPageDecoder.parseJSON(generated.body, baseURL: PageFixtures.base, project: project, skipped: &skipped)
        } else {
            // As libcurl delivers it: CURLOPT_BUFFERSIZE is 128 KiB.
            var reader = UpstreamPageReader(contentType: "application/json", baseURL: PageFixtures.base, project: project)
            generated.body.withUnsafeBytes { all in
                var at = 0
                while at < all.count {
                    let end = min(all.count, at + 128 * 1024)
                    let chunkStart = EventLoop.threadCPUTime()
                    reader.feed(UnsafeRawBufferPointer(rebasing: all[at..<end]))
                    slowestChunk = max(slowestChunk, EventLoop.threadCPUTime() - chunkStart)
                    at = end
                }
            }
            page = try reader.finish()
        }
        let elapsed = EventLoop.threadCPUTime() - start
        let peak = ParseBenchmark.status("VmHWM") - rssBefore
        let kept = ParseBenchmark.status("VmRSS") - rssBefore
        print("parse_bench side=\(side) files=\(page.files.count) body_mb=\(generated.body.count >> 20) parse_cpu_ms=\(elapsed / 1_000_000)"
              + " slowest_chunk_cpu_us=\(slowestChunk / 1000) peak_extra_mb=\(peak >> 20) kept_mb=\(kept >> 20)")
        #expect(page.files.count == 100_000)
        #expect(page == generated.expected)
    }
}
