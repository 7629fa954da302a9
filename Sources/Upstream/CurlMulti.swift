import CCurl
import Reactor

/// Drives libcurl's multi handle from the reactor with the socket-action API
/// (the shape of curl's docs/examples/ephiperfifo.c): libcurl tells us which
/// sockets to watch and when to wake it; we tell it which socket is ready.
///
/// Rule: nothing here calls back into libcurl from inside a libcurl callback.
/// The socket and timer callbacks only update the reactor; finished transfers
/// are collected after `curl_multi_socket_action` returns.
public final class CurlMulti: IOHandler {
    private let loop: EventLoop
    private let multi: UnsafeMutableRawPointer
    private var timer: TimerID?
    /// Transfers libcurl is working on, by easy handle. Holding them here keeps
    /// each Transfer (and so its CURL handle) alive until libcurl lets go.
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    /// The first multi option libcurl refused at set-up: every transfer then fails with it,
    /// and a server checks it at start-up (`requireReady()`).
    public private(set) var setupFailure: CurlFailure?
    /// What `curl_multi_assign` attaches to a socket we watch: libcurl hands it back in the
    /// socket callback, so "already registered with the loop" needs no set of our own.
    /// Any non-nil pointer does; this multi's own address is at hand.
    private var watchedMarker: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    public init(loop: EventLoop, maxConnectionsPerHost: Int = 16) {
        self.loop = loop
        multi = curl_multi_init()
        let me = Unmanaged.passUnretained(self).toOpaque()
        check(ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost), "CURLMOPT_MAX_HOST_CONNECTIONS")
        let socketFunction = ccurl_multi_setopt_socket_callback(multi) { _, socket, what, user, socketState in
            CurlMulti.from(user).socketCallback(socket, what: what, watched: socketState != nil)
            return 0
        }
        check(socketFunction, "CURLMOPT_SOCKETFUNCTION")
        check(ccurl_multi_setopt_ptr(multi, CURLMOPT_SOCKETDATA, me), "CURLMOPT_SOCKETDATA")
        let timerFunction = ccurl_multi_setopt_timer_callback(multi) { _, timeoutMS, user in
            CurlMulti.from(user).timerCallback(timeoutMS)
            return 0
        }
        check(timerFunction, "CURLMOPT_TIMERFUNCTION")
        check(ccurl_multi_setopt_ptr(multi, CURLMOPT_TIMERDATA, me), "CURLMOPT_TIMERDATA")
    }

    private func check(_ code: CURLMcode, _ option: String) {
        guard setupFailure == nil else { return }
        setupFailure = CurlCheck.multi(code, "curl_multi_setopt(\(option))")
    }

    /// Throws the set-up failure, if any: for start-up, so a server never runs without an option it relies on.
    public func requireReady() throws {
        if let setupFailure { throw setupFailure }
    }

    deinit {
        // Tearing down: nothing is left to fail, so the results are not used.
        for (easy, _) in active { _ = curl_multi_remove_handle(multi, easy) }
        _ = curl_multi_cleanup(multi)
    }

    public var activeCount: Int { active.count }

    /// Starts a transfer. Must not be called from inside a libcurl callback, and delegates
    /// hear of heads and bodies from inside one (the header and write callbacks): start
    /// further transfers from `transferDidComplete` (called after libcurl returned) or defer
    /// them with `EventLoop.execute`.
    /// A transfer that cannot start (an option refused) fails on the next loop turn, never
    /// from inside this call, so callers may register it before they hear of the failure.
    public func add(_ transfer: Transfer) {
        if let failure = setupFailure ?? transfer.setupFailure {
            return loop.execute { transfer.fail(failure) }
        }
        active[transfer.easy] = transfer
        // curl_multi_add_handle calls the timer callback (0 ms): the transfer starts on the next iteration.
        if let failure = CurlCheck.multi(curl_multi_add_handle(multi, transfer.easy), "curl_multi_add_handle") {
            active.removeValue(forKey: transfer.easy)
            loop.execute { transfer.fail(failure) }
        }
    }

    /// Abandons a transfer; its delegate hears nothing more.
    public func cancel(_ transfer: Transfer) {
        guard active.removeValue(forKey: transfer.easy) != nil else { return }
        // Nobody waits on an abandoned transfer, so a refusal here has no one to fail.
        _ = curl_multi_remove_handle(multi, transfer.easy)
    }

    static func from(_ user: UnsafeMutableRawPointer?) -> CurlMulti {
        Unmanaged<CurlMulti>.fromOpaque(user!).takeUnretainedValue()
    }

    // MARK: - libcurl callbacks: bookkeeping only

    /// `watched`: libcurl handed back our `curl_multi_assign` marker, i.e. we registered this
    /// socket before (libcurl drops the marker when it forgets the socket).
    private func socketCallback(_ socket: curl_socket_t, what: Int32, watched: Bool) {
        if what == CURL_POLL_REMOVE {
            // Not necessarily closed (a paused transfer's socket is removed too).
            loop.deregister(fd: socket)
            return
        }
        var interest: IOInterest = []
        if what & CURL_POLL_IN != 0 { interest.insert(.readable) }
        if what & CURL_POLL_OUT != 0 { interest.insert(.writable) }
        do {
            if watched && loop.isRegistered(fd: socket) {
                try loop.setInterest(fd: socket, interest)
            } else {
                try loop.register(fd: socket, interest: interest, handler: self)
                // Allowed inside the socket callback (curl's ephiperfifo.c does it); it only
                // fails for a socket libcurl does not know, which cannot be the one it just named.
                _ = CurlCheck.multi(curl_multi_assign(multi, socket, watchedMarker), "curl_multi_assign")
            }
        } catch {
            // libcurl's own timeouts will end the transfer that owns this socket.
        }
    }

    private func timerCallback(_ timeoutMS: Int) {
        if let t = timer { loop.cancel(t) }
        timer = nil
        guard timeoutMS >= 0 else { return }  // -1: no timeout wanted
        timer = loop.schedule(afterMilliseconds: timeoutMS) { [weak self] in
            guard let self else { return }
            timer = nil
            act(socket: CURL_SOCKET_TIMEOUT, flags: 0)
        }
    }

    // MARK: - Reactor side

    public func handleIO(fd: Int32, event: IOEvent) {
        var flags: Int32 = 0
        if event.readable { flags |= CURL_CSELECT_IN }
        if event.writable { flags |= CURL_CSELECT_OUT }
        if event.failed { flags |= CURL_CSELECT_ERR }
        act(socket: fd, flags: flags)
    }

    private func act(socket: curl_socket_t, flags: Int32) {
        var running: Int32 = 0
        let code = curl_multi_socket_action(multi, socket, flags, &running)
        if code == CURLM_BAD_SOCKET {
            // A socket libcurl no longer knows: stop watching it, or epoll reports it forever.
            loop.deregister(fd: socket)
        } else if let failure = CurlCheck.multi(code, "curl_multi_socket_action") {
            // The multi handle itself failed (out of memory, internal error): no transfer
            // on it can be trusted to finish, so each fails now rather than hang.
            failAll(failure)
            return
        }
        collectFinished()
    }

    private func failAll(_ failure: CurlFailure) {
        let failing = active
        active.removeAll()
        for (easy, transfer) in failing {
            _ = curl_multi_remove_handle(multi, easy)  // failing it anyway
            transfer.fail(failure)
        }
    }

    /// Hands finished transfers to their delegates, outside every libcurl callback.
    private func collectFinished() {
        var remaining: Int32 = 0
        while let msg = curl_multi_info_read(multi, &remaining) {
            guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle else { continue }
            let code = msg.pointee.data.result
            // Which pooled connection the transfer used can only be asked while the handle
            // is still in the multi; the transfer may need to discard it (see Transfer).
            var socket: curl_socket_t = CURL_SOCKET_BAD
            if ccurl_easy_getinfo_socket(easy, CURLINFO_ACTIVESOCKET, &socket) != CURLE_OK { socket = CURL_SOCKET_BAD }
            // libcurl answers with the connection's socket even when another transfer took that
            // connection over inside the same curl_multi_socket_action call (a queued transfer
            // starts as soon as this one frees the host's slot). Such a socket is watched again
            // (an idle pooled one is not: libcurl removes it when the transfer detaches), and it
            // is no longer this transfer's to judge: peeking would see the other response's
            // bytes as leftovers and shutting it down would cut that response short.
            if socket != CURL_SOCKET_BAD && loop.isRegistered(fd: socket) { socket = CURL_SOCKET_BAD }
            let removal = CurlCheck.multi(curl_multi_remove_handle(multi, easy), "curl_multi_remove_handle")
            guard let transfer = active.removeValue(forKey: easy) else { continue }
            transfer.pooledSocket = socket
            if let removal, code == CURLE_OK {
                transfer.discardConnection()
                transfer.fail(removal)
            } else {
                transfer.complete(code: code)
            }
        }
    }
}
