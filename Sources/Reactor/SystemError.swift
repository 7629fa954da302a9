import Glibc

/// A failed system call: the operation's name and errno.
public struct SystemError: Error, CustomStringConvertible, Equatable {
    public let operation: String
    public let errno: Int32

    public init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        "\(operation): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// The outcome of a non-blocking call: done with a value, or "try again when ready".
public enum IOResult<T> {
    case done(T)
    case wouldBlock
}

/// The one place that interprets a raw syscall return value.
/// Retries EINTR, returns EAGAIN as `.wouldBlock`, throws every other failure
/// with the operation's name. EBADF and EFAULT mean our own bookkeeping is wrong.
@inline(__always)
func syscall<T: FixedWidthInteger>(_ operation: String, _ call: () -> T) throws -> IOResult<T> {
    while true {
        let result = call()
        if result >= 0 { return .done(result) }
        let err = Glibc.errno
        switch err {
        case EINTR: continue
        case EAGAIN, EWOULDBLOCK: return .wouldBlock
        case EBADF, EFAULT:
            preconditionFailure("\(operation): \(SystemError(operation, errno: err)) (fd bookkeeping bug)")
        default: throw SystemError(operation, errno: err)
        }
    }
}

/// For calls that never block: the value, or a thrown SystemError.
@inline(__always)
func syscallBlocking<T: FixedWidthInteger>(_ operation: String, _ call: () -> T) throws -> T {
    switch try syscall(operation, call) {
    case .done(let v): return v
    case .wouldBlock: throw SystemError(operation, errno: EAGAIN)
    }
}
