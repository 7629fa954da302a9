import CCurl
import Glibc
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
    /// True when the connect policy refused the address (no packet was sent).
    public var blocked = false
    /// True when the host took the connection and the failure came after it (an empty,
    /// reset or malformed reply): the host is up, only this answer was broken.
    public var hostAnswered = false
    public var description: String { message }

    public init(message: String, timedOut: Bool, blocked: Bool = false) {
        self.message = message
        self.timedOut = timedOut
        self.blocked = blocked
    }
}

/// One upstream HTTP GET: the only owner of its CURL easy handle. Created with
/// its options set; started by `CurlMulti.add`.
public final class Transfer {
    public struct Options {
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
        /// Which addresses connections may reach (nil: any).
        public var connectPolicy: ConnectPolicy?
        /// A byte range to ask for (CURLOPT_RANGE: "first-last" or "-suffixLength"); nil: the whole body.
        /// Upstream may ignore it and answer 200 with everything: the delegate checks the status.
        public var range: String?
        /// libcurl's receive buffer (CURLOPT_BUFFERSIZE). libcurl may read up to ~100 buffers
        /// in one call when data waits, and the delegate handles each before the loop goes on:
        /// large for files (fewer calls), small where each buffer costs work (pages are parsed).
        public var bufferBytes = 128 * 1024
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
    private let connectPolicy: ConnectPolicy?
    /// Why a connection was refused by the connect policy, if one was.
    private var blockedReason: String?
    /// The socket of the connection libcurl kept for reuse after this transfer (set by
    /// CurlMulti when the transfer finishes, before curl forgets which one it was); -1: none.
    var pooledSocket: Int32 = -1
    /// What a request body is read from (see Transfer+Request.swift), kept as long as the handle.
    var requestBody: AnyObject?

    public init(url: String, options: Options = Options()) {
        self.url = url
        connectPolicy = options.connectPolicy
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
        check(ccurl_easy_setopt_str(easy, CURLOPT_URL, url), "CURLOPT_URL")
        // Debian 12's libcurl 7.88 stalls paused HTTP/2 transfers; HTTP/1.1 keep-alive is enough.
        check(ccurl_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1)), "CURLOPT_HTTP_VERSION")
        // We run on one thread with our own signal handling (SIGPIPE is ignored).
        check(ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1), "CURLOPT_NOSIGNAL")
        check(ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 1), "CURLOPT_FOLLOWLOCATION")
        check(ccurl_easy_setopt_long(easy, CURLOPT_MAXREDIRS, o.maxRedirects), "CURLOPT_MAXREDIRS")
        check(ccurl_easy_setopt_str(easy, CURLOPT_PROTOCOLS_STR, "http,https"), "CURLOPT_PROTOCOLS_STR")
        check(ccurl_easy_setopt_str(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"), "CURLOPT_REDIR_PROTOCOLS_STR")
        check(ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, o.connectTimeoutMS), "CURLOPT_CONNECTTIMEOUT_MS")
        if o.totalTimeoutMS > 0 { check(ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, o.totalTimeoutMS), "CURLOPT_TIMEOUT_MS") }
        check(ccurl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, o.lowSpeedBytes), "CURLOPT_LOW_SPEED_LIMIT")
        check(ccurl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, o.lowSpeedSeconds), "CURLOPT_LOW_SPEED_TIME")
        check(ccurl_easy_setopt_long(easy, CURLOPT_BUFFERSIZE, o.bufferBytes), "CURLOPT_BUFFERSIZE")
        check(ccurl_easy_setopt_str(easy, CURLOPT_USERAGENT, "wheelhouse/0.1"), "CURLOPT_USERAGENT")
        if o.acceptCompressed { check(ccurl_easy_setopt_str(easy, CURLOPT_ACCEPT_ENCODING, ""), "CURLOPT_ACCEPT_ENCODING") }
        if o.headOnly { check(ccurl_easy_setopt_long(easy, CURLOPT_NOBODY, 1), "CURLOPT_NOBODY") }
        if let range = o.range { check(ccurl_easy_setopt_str(easy, CURLOPT_RANGE, range), "CURLOPT_RANGE") }
        check(ccurl_easy_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer), "CURLOPT_ERRORBUFFER")
        for h in o.headers { headerList = curl_slist_append(headerList, h) }
        if let list = headerList { check(ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list), "CURLOPT_HTTPHEADER") }

        let headerFunction = ccurl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION) { ptr, size, count, user in
            Transfer.from(user).handleHeaderLine(UnsafeRawBufferPointer(start: ptr, count: size * count))
        }
        check(headerFunction, "CURLOPT_HEADERFUNCTION")
        check(ccurl_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me), "CURLOPT_HEADERDATA")
        let writeFunction = ccurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION) { ptr, size, count, user in
            Transfer.from(user).handleBody(UnsafeRawBufferPointer(start: ptr, count: size * count))
        }
        check(writeFunction, "CURLOPT_WRITEFUNCTION")
        check(ccurl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me), "CURLOPT_WRITEDATA")
        if connectPolicy != nil {
            // Called for every connection, with the address DNS gave, including after redirects.
            let openSocketFunction = ccurl_easy_setopt_opensocket_callback(easy) { user, purpose, address in
                Transfer.from(user).openSocket(purpose: purpose, address: address)
            }
            check(openSocketFunction, "CURLOPT_OPENSOCKETFUNCTION")
            check(ccurl_easy_setopt_ptr(easy, CURLOPT_OPENSOCKETDATA, me), "CURLOPT_OPENSOCKETDATA")
        }
    }

    /// The first option libcurl refused while this transfer was set up; CurlMulti fails
    /// such a transfer instead of starting it (it would run without that option).
    public internal(set) var setupFailure: CurlFailure?

    private func check(_ code: CURLcode, _ option: String) {
        guard setupFailure == nil else { return }
        setupFailure = CurlCheck.easy(code, "curl_easy_setopt(\(option))")
    }

    /// Ends a transfer libcurl never ran or can no longer finish, with the failed operation's name.
    func fail(_ failure: CurlFailure) {
        delegate?.transferDidComplete(self, error: TransferError(message: failure.description, timedOut: false))
    }

    /// A transfer whose response was wrong (overran its length, failed verification) must
    /// not leave its connection for the next request to read the leftovers from. Shutting
    /// the socket down (not closing it: curl still owns the descriptor) makes libcurl find
    /// the pooled connection dead and open a new one.
    public func discardConnection() {
        guard pooledSocket >= 0 else { return }
        Glibc.shutdown(pooledSocket, Int32(SHUT_RDWR))
        pooledSocket = -1
    }

    /// True when the kept connection already has unread bytes (or EOF) waiting: the response
    /// carried more than it declared, so the connection cannot serve another request.
    private var pooledSocketHasLeftovers: Bool {
        guard pooledSocket >= 0 else { return false }
        var byte: UInt8 = 0
        let n = recv(pooledSocket, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return n >= 0  // data, or 0 for EOF; -1 with EAGAIN means clean
    }

    static func from(_ user: UnsafeMutableRawPointer?) -> Transfer {
        Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
    }

    // MARK: - libcurl callbacks (run inside curl_multi_socket_action: never re-enter curl)

    private func openSocket(purpose: curlsocktype, address: UnsafeMutablePointer<curl_sockaddr>?) -> curl_socket_t {
        guard let address else { return CURL_SOCKET_BAD }
        let family = address.pointee.family
        if let connectPolicy, purpose == CURLSOCKTYPE_IPCXN {
            // curl stores a whole sockaddr_in6 here although the field is declared as a sockaddr.
            let raw = UnsafeRawPointer(address) + MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr)!
            let kind: AddressClass
            let text: String
            if family == AF_INET {
                let sin = raw.loadUnaligned(as: sockaddr_in.self)
                let bytes = withUnsafeBytes(of: sin.sin_addr) { Array($0) }
                kind = AddressClass(ipv4: bytes)
                text = bytes.map(String.init).joined(separator: ".")
            } else if family == AF_INET6 {
                let sin6 = raw.loadUnaligned(as: sockaddr_in6.self)
                let bytes = withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }
                kind = AddressClass(ipv6: bytes)
                text = stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
            } else {
                blockedReason = "refused to connect: address family \(family) is not IP"
                return CURL_SOCKET_BAD
            }
            var current: UnsafeMutablePointer<CChar>?
            ccurl_easy_getinfo_str(easy, CURLINFO_EFFECTIVE_URL, &current)
            let host = current.flatMap { ConnectPolicy.host(of: String(cString: $0)) }
            guard connectPolicy.permits(kind, host: host) else {
                blockedReason = "refused to connect to \(host ?? "?") at \(text): a \(kind.rawValue) address, "
                    + "and the upstream (\(connectPolicy.upstreamHost)) is not on one"
                return CURL_SOCKET_BAD
            }
        }
        return socket(family, address.pointee.socktype, address.pointee.protocol)
    }

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
        } else if let blockedReason {
            error = TransferError(message: blockedReason, timedOut: false, blocked: true)
        } else {
            let detail = String(cString: errorBuffer)
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            var failure = TransferError(message: message, timedOut: code == CURLE_OPERATION_TIMEDOUT)
            failure.hostAnswered = [CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE,
                                    CURLE_WEIRD_SERVER_REPLY].contains(code)
            error = failure
        }
        if error != nil || pooledSocketHasLeftovers { discardConnection() }
        delegate?.transferDidComplete(self, error: error)
        pooledSocket = -1  // curl may close or reuse it from now on
    }
}
