/// Why a client connection ended. Every close names one: abnormal ones are logged
/// (once per connection) and every one is counted by `ServerStats`.
public enum CloseReason: String, CaseIterable, Sendable {
    // Normal ends.
    case clientClosed = "client_closed"
    case responseDone = "response_done"
    case idleTimeout = "idle_timeout"
    case shutdown = "shutdown"
    // A request we refused; the status was sent, then the connection lingered.
    case badRequest = "bad_request"
    // The client misbehaved or vanished.
    case headTimeout = "header_timeout"
    case sendTimeout = "send_timeout"
    case evicted = "evicted"
    case clientHungUp = "client_hung_up"
    case readFailed = "read_failed"
    case writeFailed = "write_failed"
    // The response could not be completed on our side.
    case upstreamFailed = "upstream_failed"
    case fileTruncated = "file_truncated"
    case shutdownGraceOver = "shutdown_grace_over"
    case epollFailed = "epoll_failed"

    /// Normal ends are not logged at info level; every other one is, once.
    public var isAbnormal: Bool {
        switch self {
        case .clientClosed, .responseDone, .idleTimeout, .shutdown: false
        default: true
        }
    }

    /// The words a log line uses.
    public var text: String {
        switch self {
        case .clientClosed: "client closed"
        case .responseDone: "response done"
        case .idleTimeout: "idle timeout"
        case .shutdown: "shutdown"
        case .badRequest: "bad request answered"
        case .headTimeout: "request head not complete within the header timeout"
        case .sendTimeout: "client took no bytes within the send timeout"
        case .evicted: "connection limit reached: closed to make room"
        case .clientHungUp: "client hung up"
        case .readFailed: "read failed"
        case .writeFailed: "client write failed"
        case .upstreamFailed: "upstream transfer failed"
        case .fileTruncated: "file shorter than expected"
        case .shutdownGraceOver: "shutdown grace period over"
        case .epollFailed: "epoll failed"
        }
    }
}
