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
    private var watched: Set<Int32> = []

    public init(loop: EventLoop, maxConnectionsPerHost: Int = 16) {
        self.loop = loop
        multi = curl_multi_init()
        let me = Unmanaged.passUnretained(self).toOpaque()
        ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        ccurl_multi_setopt_socket_callback(multi) { _, socket, what, user, _ in
            CurlMulti.from(user).socketCallback(socket, what: what)
            return 0
        }
        ccurl_multi_setopt_ptr(multi, CURLMOPT_SOCKETDATA, me)
        ccurl_multi_setopt_timer_callback(multi) { _, timeoutMS, user in
            CurlMulti.from(user).timerCallback(timeoutMS)
            return 0
        }
        ccurl_multi_setopt_ptr(multi, CURLMOPT_TIMERDATA, me)
    }

    deinit {
        for (easy, _) in active { curl_multi_remove_handle(multi, easy) }
        curl_multi_cleanup(multi)
    }

    public var activeCount: Int { active.count }

    /// Starts a transfer. Must not be called from inside a libcurl callback;
    /// delegates hear from transfers only outside them, so calling from a delegate is fine.
    public func add(_ transfer: Transfer) {
        active[transfer.easy] = transfer
        // curl_multi_add_handle calls the timer callback (0 ms): the transfer starts on the next iteration.
        curl_multi_add_handle(multi, transfer.easy)
    }

    /// Abandons a transfer; its delegate hears nothing more.
    public func cancel(_ transfer: Transfer) {
        guard active.removeValue(forKey: transfer.easy) != nil else { return }
        curl_multi_remove_handle(multi, transfer.easy)
    }

    static func from(_ user: UnsafeMutableRawPointer?) -> CurlMulti {
        Unmanaged<CurlMulti>.fromOpaque(user!).takeUnretainedValue()
    }

    // MARK: - libcurl callbacks: bookkeeping only

    private func socketCallback(_ socket: curl_socket_t, what: Int32) {
        if what == CURL_POLL_REMOVE {
            // Not necessarily closed (a paused transfer's socket is removed too).
            watched.remove(socket)
            loop.deregister(fd: socket)
            return
        }
        var interest: IOInterest = []
        if what & CURL_POLL_IN != 0 { interest.insert(.readable) }
        if what & CURL_POLL_OUT != 0 { interest.insert(.writable) }
        do {
            if watched.contains(socket) && loop.isRegistered(fd: socket) {
                try loop.setInterest(fd: socket, interest)
            } else {
                try loop.register(fd: socket, interest: interest, handler: self)
                watched.insert(socket)
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
        curl_multi_socket_action(multi, socket, flags, &running)
        collectFinished()
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
            ccurl_easy_getinfo_socket(easy, CURLINFO_ACTIVESOCKET, &socket)
            curl_multi_remove_handle(multi, easy)
            guard let transfer = active.removeValue(forKey: easy) else { continue }
            transfer.pooledSocket = socket
            transfer.complete(code: code)
        }
    }
}
