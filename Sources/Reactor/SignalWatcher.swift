import CLinux
import Glibc

/// Turns SIGINT/SIGTERM into loop events through a signalfd, so shutdown runs
/// on the loop thread like everything else. SIGPIPE is ignored: libcurl runs
/// with CURLOPT_NOSIGNAL and our own sends use MSG_NOSIGNAL.
public final class SignalWatcher: IOHandler {
    private let fd: FileDescriptor
    private let onSignal: (Int32) -> Void

    public init(loop: EventLoop, signals: [Int32] = [SIGINT, SIGTERM], onSignal: @escaping (Int32) -> Void) throws {
        signal(SIGPIPE, SIG_IGN)
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in signals { sigaddset(&mask, s) }
        // Blocked signals are delivered only through the signalfd.
        _ = pthread_sigmask(SIG_BLOCK, &mask, nil)
        fd = FileDescriptor(adopting: try syscallBlocking("signalfd") { signalfd(-1, &mask, Int32(SFD_NONBLOCK | SFD_CLOEXEC)) })
        self.onSignal = onSignal
        try loop.register(fd: fd.raw, interest: .readable, handler: self)
    }

    public func handleIO(fd _: Int32, event _: IOEvent) {
        var info = signalfd_siginfo()
        while true {
            let n = withUnsafeMutableBytes(of: &info) { Glibc.read(fd.raw, $0.baseAddress, $0.count) }
            guard n == MemoryLayout<signalfd_siginfo>.size else { return }
            onSignal(Int32(info.ssi_signo))
        }
    }
}
