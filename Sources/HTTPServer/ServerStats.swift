/// Counters the server keeps about what it sent, for /+status and /+metrics.
public final class ServerStats {
    public private(set) var responsesByStatus: [Int: Int] = [:]
    /// Body bytes of completed responses.
    public private(set) var bodyBytesSent = 0
    /// Responses cut short (client gone, upstream failed, shutdown).
    public private(set) var responsesCut = 0
    public internal(set) var openConnections = 0
    /// Every closed connection, by why it ended.
    public private(set) var connectionsClosed: [CloseReason: Int] = [:]

    public init() {}

    func record(status: Int, bodyBytes: Int, complete: Bool) {
        responsesByStatus[status, default: 0] += 1
        if complete { bodyBytesSent += bodyBytes } else { responsesCut += 1 }
    }

    func recordClose(_ reason: CloseReason) {
        connectionsClosed[reason, default: 0] += 1
    }
}
