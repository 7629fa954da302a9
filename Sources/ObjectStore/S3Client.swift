import Reactor
import Upstream

/// How an object-store request ended.
public enum S3Outcome: Sendable, Equatable {
    /// 2xx; `length` is the object's Content-Length on a HEAD.
    case ok(length: Int?)
    case notFound
    /// 412 to a conditional create: the key exists (written once, by whoever came first).
    case alreadyExists
    /// The store answered with an error: 403 (credentials, clock skew), 5xx...
    case refused(status: Int, reason: String)
    /// No answer at all (refused connection, timeout, DNS).
    case unreachable(String)

    /// One line for logs and /+status.
    public var summary: String {
        switch self {
        case .ok: "ok"
        case .notFound: "not found"
        case .alreadyExists: "already exists"
        case .refused(_, let reason): reason
        case .unreachable(let reason): "unreachable: \(reason)"
        }
    }

    /// True when the store did not answer usefully: the tier counts it as down.
    public var storeFailing: Bool {
        switch self {
        case .ok, .notFound, .alreadyExists: false
        case .refused(let status, _): status >= 500 || status == 403
        case .unreachable: true
        }
    }
}

/// An S3 client on the reactor: each request is a `Transfer` on the client's `CurlMulti`
/// (its own connection pool), signed with SigV4 by libcurl, answered through a callback on
/// the loop. Keys are relative to the settings' prefix. Nothing here blocks but
/// `checkAccess`, which is for start-up.
public final class S3Client {
    public let settings: S3Settings
    public let multi: CurlMulti
    private var calls: [ObjectIdentifier: S3Call] = [:]
    private var multiparts: [ObjectIdentifier: S3MultipartUpload] = [:]

    public init(settings: S3Settings, multi: CurlMulti) {
        self.settings = settings
        self.multi = multi
    }

    private var partSize: Int { settings.partSize }

    /// Requests in flight.
    public var activeCount: Int { calls.count }

    /// Headers every request carries (the session token of temporary credentials).
    public var commonHeaders: [String] {
        settings.sessionToken.map { ["x-amz-security-token: \($0)"] } ?? []
    }

    /// Signs a transfer made elsewhere (a GET streamed into a cache file).
    public func sign(_ transfer: Transfer) {
        transfer.signAWSV4(provider: "aws:amz:\(settings.region):s3", accessKey: settings.accessKey, secretKey: settings.secretKey)
    }

    /// Options for a request to the store: the store is where the operator said, so no
    /// address policy; short connect limit, so a store that is down is noticed soon.
    public func options(headers: [String] = []) -> Transfer.Options {
        var options = Transfer.Options()
        options.headers = commonHeaders + headers
        options.connectTimeoutMS = 3_000
        options.lowSpeedBytes = 1
        options.lowSpeedSeconds = 30
        options.maxRedirects = 0
        return options
    }

    public func head(_ key: String, done: @escaping (S3Outcome) -> Void) {
        var options = self.options()
        options.headOnly = true
        // Every cold miss waits for this answer: a store that accepts but never answers
        // must not hold clients for the low-speed limit.
        options.totalTimeoutMS = 5_000
        start(Transfer(url: settings.url(for: key), options: options), done: { outcome, _ in done(outcome) })
    }

    /// Reads a small object whole (at most `limit` bytes, else it fails).
    public func get(_ key: String, limit: Int, done: @escaping (S3Outcome, [UInt8]) -> Void) {
        var options = self.options()
        options.totalTimeoutMS = 10_000  // pages: a client waits for this before upstream is asked
        start(Transfer(url: settings.url(for: key), options: options), bodyLimit: limit, done: done)
    }

    /// Uploads `length` bytes of a local file, streamed. `createOnly`: `If-None-Match: *`, so
    /// an existing object is never replaced (`.alreadyExists`). `sha256`: the body's hash,
    /// sent as `x-amz-content-sha256` so a store that checks it (AWS S3) rejects a corrupt body.
    public func put(_ key: String, file: FileDescriptor, length: Int, sha256: String?, createOnly: Bool,
                    done: @escaping (S3Outcome) -> Void) {
        if length > partSize {
            let upload = S3MultipartUpload(client: self, key: key, file: file, length: length, partSize: partSize, createOnly: createOnly)
            let id = ObjectIdentifier(upload)
            multiparts[id] = upload
            return upload.start { [weak self] outcome in
                self?.multiparts.removeValue(forKey: id)
                done(outcome)
            }
        }
        var headers = ["Content-Type: application/octet-stream"]
        if createOnly { headers.append("If-None-Match: *") }
        if let sha256 { headers.append("x-amz-content-sha256: \(sha256)") }
        let transfer = Transfer(url: settings.url(for: key), options: options(headers: headers))
        transfer.upload(from: file, length: length)
        start(transfer, done: { outcome, _ in done(outcome) })
    }

    /// Uploads small bytes whole, replacing what is there (pages: replaced whole).
    public func put(_ key: String, bytes: [UInt8], done: @escaping (S3Outcome) -> Void) {
        let transfer = Transfer(url: settings.url(for: key), options: options(headers: ["Content-Type: application/octet-stream"]))
        transfer.upload(bytes: bytes)
        start(transfer, done: { outcome, _ in done(outcome) })
    }

    /// Is the bucket there, and do the credentials work? A blocking HEAD of the bucket, for
    /// start-up only (before the loop runs).
    public func checkAccess() -> S3Outcome {
        var options = self.options()
        options.headOnly = true
        options.totalTimeoutMS = 10_000
        let transfer = Transfer(url: settings.bucketURL, options: options)
        sign(transfer)
        let call = S3Call(bodyLimit: 0) { _, _, _ in }
        transfer.delegate = call
        transfer.performBlocking()
        return call.outcome ?? .unreachable("no answer")
    }

    /// The same check on the loop (a probe while the store is down).
    public func probe(done: @escaping (S3Outcome) -> Void) {
        var options = self.options()
        options.headOnly = true
        options.totalTimeoutMS = 10_000
        start(Transfer(url: settings.bucketURL, options: options), done: { outcome, _ in done(outcome) })
    }

    /// Abandons every request (shutdown); their callbacks are not called.
    public func cancelAll() {
        for call in calls.values { if let transfer = call.transfer { multi.cancel(transfer) } }
        calls.removeAll()
        multiparts.removeAll()
    }

    /// A signed request to `key` with a query (its parameters already in sorted order:
    /// libcurl 7.88 signs the query as given, and SigV4 wants it sorted).
    func request(_ method: String, _ key: String, query: [(String, String)], headers: [String] = [], body: [UInt8]? = nil,
                 file: (FileDescriptor, offset: Int, length: Int)? = nil, bodyLimit: Int = 64 * 1024,
                 done: @escaping (S3Outcome, [UInt8], UpstreamHead?) -> Void) {
        let text = query.map { "\(S3Settings.encode($0.0))=\(S3Settings.encode($0.1))" }.joined(separator: "&")
        // An explicit payload hash: libcurl 7.88 does not hash request bodies itself.
        let transfer = Transfer(url: settings.url(for: key) + "?" + text,
                                options: options(headers: headers + ["x-amz-content-sha256: UNSIGNED-PAYLOAD"]))
        transfer.setMethod(method)
        if let body { transfer.upload(bytes: body) }
        if let file { transfer.upload(from: file.0, offset: file.offset, length: file.length) }
        start(transfer, bodyLimit: bodyLimit, done: done)
    }

    private func start(_ transfer: Transfer, bodyLimit: Int = 64 * 1024, done: @escaping (S3Outcome, [UInt8]) -> Void) {
        start(transfer, bodyLimit: bodyLimit) { outcome, body, _ in done(outcome, body) }
    }

    private func start(_ transfer: Transfer, bodyLimit: Int, done: @escaping (S3Outcome, [UInt8], UpstreamHead?) -> Void) {
        sign(transfer)
        let call = S3Call(bodyLimit: bodyLimit, done: done)
        let id = ObjectIdentifier(call)
        call.finished = { [weak self] in self?.calls.removeValue(forKey: id) }
        call.transfer = transfer
        transfer.delegate = call
        calls[id] = call
        multi.add(transfer)
    }
}

/// One request's delegate: collects the status and a bounded body, then reports once.
final class S3Call: TransferDelegate {
    private let bodyLimit: Int
    private let done: (S3Outcome, [UInt8], UpstreamHead?) -> Void
    var finished: (() -> Void)?
    var transfer: Transfer?
    private var head: UpstreamHead?
    private var body: [UInt8] = []
    private var overLimit = false
    private(set) var outcome: S3Outcome?

    init(bodyLimit: Int, done: @escaping (S3Outcome, [UInt8], UpstreamHead?) -> Void) {
        self.bodyLimit = bodyLimit
        self.done = done
    }

    func transferDidReceiveHead(_ transfer: Transfer, head: UpstreamHead) { self.head = head }

    func transfer(_ transfer: Transfer, didReceive bytes: UnsafeRawBufferPointer) -> Bool {
        // Error bodies are kept (small XML) for their <Code>; success bodies up to the limit.
        let limit = (head.map { $0.status >= 300 } ?? false) ? 4096 : bodyLimit
        guard body.count + bytes.count <= limit else {
            overLimit = true
            return head.map { $0.status >= 300 } ?? false  // an error body is only cut, a result fails
        }
        body.append(contentsOf: bytes)
        return true
    }

    func transferDidComplete(_ transfer: Transfer, error: TransferError?) {
        let result = classify(error)
        outcome = result
        finished?()
        self.transfer = nil
        done(result, {
            if case .ok = result { return body }
            return []
        }(), head)
    }

    private func classify(_ error: TransferError?) -> S3Outcome {
        guard let head, head.status > 0 else { return .unreachable(error?.message ?? "no response") }
        switch head.status {
        case 200...299:
            if overLimit { return .refused(status: head.status, reason: "object larger than \(bodyLimit) bytes") }
            if let error { return .unreachable(error.message) }
            return .ok(length: head.contentLength)
        case 404: return .notFound
        case 412: return .alreadyExists
        default:
            let code = S3Call.errorCode(in: body)
            return .refused(status: head.status, reason: "HTTP \(head.status)" + (code.map { " \($0)" } ?? ""))
        }
    }

    /// `<Code>SignatureDoesNotMatch</Code>` from an S3 error document.
    static func errorCode(in body: [UInt8]) -> String? {
        let text = Array(body)
        let open = Array("<Code>".utf8), close = Array("</Code>".utf8)
        func find(_ needle: [UInt8], from: Int) -> Int? {
            guard text.count >= needle.count, from <= text.count - needle.count else { return nil }
            return (from...(text.count - needle.count)).first { Array(text[$0..<$0 + needle.count]) == needle }
        }
        guard let start = find(open, from: 0), let end = find(close, from: start + open.count) else { return nil }
        let code = String(decoding: text[(start + open.count)..<end], as: UTF8.self)
        return code.isEmpty || code.count > 100 ? nil : String(code)
    }
}
