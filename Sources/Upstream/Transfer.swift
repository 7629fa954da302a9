import CCurl
import Reactor

/// What an upstream answered, known once its body starts (or it ends without one).
public struct UpstreamHead: Sendable {
    public let status: Int
    /// Header names lower-cased, of the final response (after redirects).
    public let headers: [(name: String, value: String)]
    /// Content-Length, when upstream declared it.
    public let contentLength: Int?
    /// The URL that answered, after redirects: the base for relative links.
    public let effectiveURL: String

    public func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
}

public protocol TransferDelegate: AnyObject {
    /// Called once, before the first body byte (or before completion for an empty body).
    func transferDidReceiveHead(_ transfer: Transfer, head: UpstreamHead)
    /// Body bytes in order. Return false to abort the transfer.
    func transfer(_ transfer: Transfer, didReceive bytes: UnsafeRawBufferPointer) -> Bool
    /// Called once, after libcurl is done with the transfer. `error` is nil on success.
    func transferDidComplete(_ transfer: Transfer, error: TransferError?)
}

public struct TransferError: Error, CustomStringConvertible, Sendable {
    public let message: String
    /// True when a time limit (connect, total, or low-speed) ended the transfer.
    public let timedOut: Bool
    public var description: String { message }
}

/// One upstream HTTP GET: the only owner of its CURL easy handle. Created with
/// its options set; started by `CurlMulti.add`.
public final class Transfer {
    public struct Options: Sendable {
        public var headers: [String] = []
        public var connectTimeoutMS = 5_000
        /// Whole-transfer limit; 0 for none (large files rely on the low-speed limit).
        public var totalTimeoutMS = 0
        /// Abort when fewer than `lowSpeedBytes` per second arrive for `lowSpeedSeconds`.
        public var lowSpeedBytes = 1
        public var lowSpeedSeconds = 30
        /// Let libcurl ask for and decode gzip (pages only: files are stored as sent).
        public var acceptCompressed = false
        public var maxRedirects = 5
        /// HEAD instead of GET.
        public var headOnly = false
        public init() {}
    }

    public let url: String
    public weak var delegate: TransferDelegate?
    let easy: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var headerLines: [(String, String)] = []
    private var headDelivered = false
    /// libcurl writes its detailed error message here; the pointer must stay put, so no Array.
    private let errorBuffer: UnsafeMutablePointer<CChar> = {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        p.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        return p
    }()
    public private(set) var bytesReceived = 0

    public init(url: String, options: Options = Options()) {
        self.url = url
        easy = curl_easy_init()
        configure(options)
    }

    deinit {
        curl_easy_cleanup(easy)
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    private func configure(_ o: Options) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        ccurl_easy_setopt_str(easy, CURLOPT_URL, url)
        // Debian 12's libcurl 7.88 stalls paused HTTP/2 transfers; HTTP/1.1 keep-alive is enough.
        ccurl_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        // We run on one thread with our own signal handling (SIGPIPE is ignored).
        ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 1)
        ccurl_easy_setopt_long(easy, CURLOPT_MAXREDIRS, o.maxRedirects)
        ccurl_easy_setopt_str(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        ccurl_easy_setopt_str(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, o.connectTimeoutMS)
        if o.totalTimeoutMS > 0 { ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, o.totalTimeoutMS) }
        ccurl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, o.lowSpeedBytes)
        ccurl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, o.lowSpeedSeconds)
        ccurl_easy_setopt_long(easy, CURLOPT_BUFFERSIZE, 128 * 1024)
        ccurl_easy_setopt_str(easy, CURLOPT_USERAGENT, "wheelhouse/0.1")
        if o.acceptCompressed { ccurl_easy_setopt_str(easy, CURLOPT_ACCEPT_ENCODING, "") }
        if o.headOnly { ccurl_easy_setopt_long(easy, CURLOPT_NOBODY, 1) }
        ccurl_easy_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        for h in o.headers { headerList = curl_slist_append(headerList, h) }
        if let list = headerList { ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list) }

        ccurl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION) { ptr, size, count, user in
            Transfer.from(user).handleHeaderLine(UnsafeRawBufferPointer(start: ptr, count: size * count))
        }
        ccurl_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me)
        ccurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION) { ptr, size, count, user in
            Transfer.from(user).handleBody(UnsafeRawBufferPointer(start: ptr, count: size * count))
        }
        ccurl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me)
    }

    static func from(_ user: UnsafeMutableRawPointer?) -> Transfer {
        Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
    }

    // MARK: - libcurl callbacks (run inside curl_multi_socket_action: never re-enter curl)

    private func handleHeaderLine(_ line: UnsafeRawBufferPointer) -> Int {
        let text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix("HTTP/") {
            headerLines.removeAll()  // a new response (after a redirect or 100-continue)
        } else if let colon = text.firstIndex(of: ":") {
            let name = text[..<colon].lowercased()
            let value = text[text.index(after: colon)...].trimmingCharacters(in: " \t\r\n")
            headerLines.append((name, value))
        }
        return line.count
    }

    private func handleBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        deliverHeadIfNeeded()
        bytesReceived += bytes.count
        guard let delegate, delegate.transfer(self, didReceive: bytes) else { return 0 }  // 0 aborts
        return bytes.count
    }

    func deliverHeadIfNeeded() {
        guard !headDelivered else { return }
        headDelivered = true
        var status = 0
        ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        var length: curl_off_t = -1
        ccurl_easy_getinfo_off(easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length)
        var effective: UnsafeMutablePointer<CChar>?
        ccurl_easy_getinfo_str(easy, CURLINFO_EFFECTIVE_URL, &effective)
        let head = UpstreamHead(status: status, headers: headerLines.map { (name: $0.0, value: $0.1) },
                                contentLength: length >= 0 ? Int(length) : nil,
                                effectiveURL: effective.map { String(cString: $0) } ?? url)
        delegate?.transferDidReceiveHead(self, head: head)
    }

    // MARK: - Completion (called by CurlMulti after curl let go of the handle)

    func complete(code: CURLcode) {
        if code == CURLE_OK { deliverHeadIfNeeded() }
        let error: TransferError?
        if code == CURLE_OK {
            error = nil
        } else {
            let detail = String(cString: errorBuffer)
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            error = TransferError(message: message, timedOut: code == CURLE_OPERATION_TIMEDOUT)
        }
        delegate?.transferDidComplete(self, error: error)
    }
}
