/// One request awaiting its response. The responder answers through it now or
/// later (after an upstream fetch). Answering after the client has gone is a no-op.
public final class Exchange {
    public let request: Request
    public let requestID: UInt64
    public let client: String
    weak var connection: Connection?
    private(set) var answered = false

    init(request: Request, requestID: UInt64, client: String, connection: Connection) {
        self.request = request
        self.requestID = requestID
        self.client = client
        self.connection = connection
    }

    public func send(_ response: Response) {
        guard !answered else { return }
        answered = true
        connection?.send(response, for: self)
    }
}

/// The application behind the server: the PyPI cache, or a test double.
public protocol HTTPResponder: AnyObject {
    /// Called for each request whose head is complete and acceptable
    /// (GET or HEAD, no body). Answer now or later through `exchange`.
    func respond(to exchange: Exchange)
    /// Names of the fields this responder adds to access-log lines (`Response.logFields`),
    /// printed in this order, `-` when a response has none.
    var accessLogFieldNames: [String] { get }
}

extension HTTPResponder {
    public var accessLogFieldNames: [String] { [] }
}
