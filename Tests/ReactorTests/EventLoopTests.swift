import Glibc
import Testing
@testable import Reactor

/// Records events; optionally runs an action on its first event.
final class Recorder: IOHandler {
    var events: [Int32] = []
    var onEvent: ((Int32) -> Void)?
    func handleIO(fd: Int32, event: IOEvent) {
        events.append(fd)
        let action = onEvent
        onEvent = nil
        action?(fd)
    }
}

func makePipe() -> (read: FileDescriptor, write: FileDescriptor) {
    var fds: [Int32] = [0, 0]
    precondition(pipe(&fds) == 0)
    for fd in fds { _ = fcntl(fd, F_SETFL, O_NONBLOCK) }
    return (FileDescriptor(adopting: fds[0]), FileDescriptor(adopting: fds[1]))
}

func writeByte(_ fd: FileDescriptor) {
    var b: UInt8 = 1
    precondition(write(fd.raw, &b, 1) == 1)
}

@Suite(.serialized) struct EventLoopTests {
    @Test func dispatchesReadiness() throws {
        let loop = try EventLoop()
        let p = makePipe()
        let rec = Recorder()
        try loop.register(fd: p.read.raw, interest: .readable, handler: rec)
        writeByte(p.write)
        try loop.runOnce(maxWaitMilliseconds: 1000)
        #expect(rec.events == [p.read.raw])
    }

    /// The case swift-nio tests by name: an fd closed and its number reused by a new
    /// owner within one epoll_wait batch must not receive the old registration's event.
    @Test func staleEventDoesNotReachNewOwnerOfReusedFD() throws {
        let loop = try EventLoop()
        let a = makePipe(), b = makePipe()
        let first = Recorder(), second = Recorder(), newOwner = Recorder()
        let replacement = makePipe()
        writeByte(replacement.write)  // the new owner's fd is readable too
        // Whichever of the two is dispatched first replaces the other's fd number with
        // a new, readable pipe (dup2 closes and reuses the number in one step) and
        // registers that under a new owner. The victim's event is already in the batch.
        func takeOver(_ number: Int32) {
            loop.deregister(fd: number)
            #expect(dup2(replacement.read.raw, number) == number)
            _ = try? loop.register(fd: number, interest: .readable, handler: newOwner)
        }
        first.onEvent = { _ in takeOver(b.read.raw) }
        second.onEvent = { _ in takeOver(a.read.raw) }
        try loop.register(fd: a.read.raw, interest: .readable, handler: first)
        try loop.register(fd: b.read.raw, interest: .readable, handler: second)
        writeByte(a.write)
        writeByte(b.write)
        try loop.runOnce(maxWaitMilliseconds: 1000)
        #expect(first.events.count + second.events.count == 1, "only the first of the batch is dispatched")
        #expect(newOwner.events.isEmpty, "the stale event was dropped")
        // The new owner does get its own events from the next wait on.
        try loop.runOnce(maxWaitMilliseconds: 1000)
        #expect(newOwner.events.count == 1)
    }

    @Test func timersFireInDeadlineOrderAndCanBeCancelled() throws {
        let loop = try EventLoop()
        var fired: [Int] = []
        loop.schedule(afterMilliseconds: 20) { fired.append(2) }
        loop.schedule(afterMilliseconds: 0) { fired.append(1) }
        let cancelled = loop.schedule(afterMilliseconds: 5) { fired.append(99) }
        loop.cancel(cancelled)
        for _ in 0..<50 where fired.count < 2 { try loop.runOnce(maxWaitMilliseconds: 100) }
        #expect(fired == [1, 2])
    }

    @Test func deferredWorkRunsAfterHandlersAndStopEndsRun() throws {
        let loop = try EventLoop()
        var order: [String] = []
        loop.execute {
            order.append("deferred")
            loop.execute { order.append("next iteration"); loop.stop() }
        }
        try loop.run()
        #expect(order == ["deferred", "next iteration"])
    }

    @Test func deregisteredFDGetsNoEvents() throws {
        let loop = try EventLoop()
        let p = makePipe()
        let rec = Recorder()
        try loop.register(fd: p.read.raw, interest: .readable, handler: rec)
        loop.deregister(fd: p.read.raw)
        writeByte(p.write)
        try loop.runOnce(maxWaitMilliseconds: 50)
        #expect(rec.events.isEmpty)
        #expect(loop.registeredCount == 0)
    }
}

@Suite struct FilesTests {
    @Test func writeRenameReadAndList() throws {
        let dir = "/tmp/wheelhouse-files-test-\(getpid())"
        try Files.makeDirectories(dir + "/a/b")
        let fd = try Files.open(dir + "/a/b/tmp", flags: O_WRONLY | O_CREAT | O_TRUNC)
        try Array("hello".utf8).withUnsafeBytes { try Files.writeAll(fd, $0) }
        try Files.rename(dir + "/a/b/tmp", to: dir + "/a/b/final")
        #expect(try Files.readAll(dir + "/a/b/final") == Array("hello".utf8))
        #expect(try Files.readAll(dir + "/missing") == nil)
        #expect(Files.list(dir + "/a/b").map(\.name) == ["final"])
        #expect(Files.list(dir + "/a/b").first?.size == 5)
        Files.remove(dir + "/a/b/final")
        #expect(access(dir + "/a/b/final", F_OK) != 0)
    }

    @Test func openErrorsCarryOperationAndErrno() {
        #expect(throws: SystemError.self) { try Files.open("/nonexistent/dir/file", flags: O_RDONLY) }
    }
}
