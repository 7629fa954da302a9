import Upstream

/// One ranged GET on upstream: asks for some bytes of a file, keeps them in memory
/// (bounded by what was asked for) and says what came back. A 200 means upstream
/// ignores Range (RFC 9110 14.2 lets it): the transfer is cut at the first body
/// bytes, so learning that costs at most one receive buffer, not the whole file.
final class RangeRequest: TransferDelegate {
    enum Wanted {
        /// The last `n` bytes ("bytes=-n").
        case suffix(Int)
        /// Bytes first...last, inclusive.
        case span(Int, Int)

        var header: String {
            switch self {
            case .suffix(let n): "-\(n)"
            case .span(let first, let last): "\(first)-\(last)"
            }
        }
    }

    enum Outcome {
        /// 206: `bytes` start at `offset` of a file of `total` bytes.
        case partial(offset: Int, bytes: [UInt8], total: Int)
        /// 200: upstream does not honour Range.
        case ignored
        case failed(status: Int, reason: String, upstreamUnavailable: Bool)
    }

    private(set) var transfer: Transfer!
    private let wanted: Wanted
    private var head: UpstreamHead?
    private var span: (first: Int, last: Int, total: Int)?
    private var bytes: [UInt8] = []
    private var problem: String?
    private let done: (Outcome) -> Void

    init(url: String, wanted: Wanted, options: Transfer.Options, done: @escaping (Outcome) -> Void) {
        self.wanted = wanted
        self.done = done
        var options = options
        options.range = wanted.header
        transfer = Transfer(url: url, options: options)
        transfer.delegate = self
    }

    /// "bytes first-last/total" (RFC 9110 14.4), checked against what was asked for.
    static func parseContentRange(_ value: String?, wanted: Wanted) -> (first: Int, last: Int, total: Int)? {
        guard let value, value.hasPrefix("bytes ") else { return nil }
        let rest = value.dropFirst(6)
        guard let dash = rest.firstIndex(of: "-"), let slash = rest.firstIndex(of: "/"), dash < slash,
              let first = Int(rest[..<dash]), let last = Int(rest[rest.index(after: dash)..<slash]),
              let total = Int(rest[rest.index(after: slash)...]), first >= 0, first <= last, last < total else { return nil }
        switch wanted {
        case .suffix(let n):
            guard last == total - 1, first == max(0, total - n) else { return nil }
        case .span(let wantedFirst, let wantedLast):
            guard first == wantedFirst, last == min(wantedLast, total - 1) else { return nil }
        }
        return (first, last, total)
    }

    // MARK: - TransferDelegate (inside libcurl callbacks: no calls back into curl)

    func transferDidReceiveHead(_ transfer: Transfer, head: UpstreamHead) {
        self.head = head
        guard head.status == 206 else { return }
        span = RangeRequest.parseContentRange(head.header("content-range"), wanted: wanted)
        if span == nil { problem = "upstream answered 206 with Content-Range \(head.header("content-range") ?? "(none)") for range \(wanted.header)" }
    }

    func transfer(_ transfer: Transfer, didReceive chunk: UnsafeRawBufferPointer) -> Bool {
        guard head?.status == 206, let span, problem == nil else { return false }  // 200: stop at once
        guard bytes.count + chunk.count <= span.last - span.first + 1 else {
            problem = "upstream sent more than the \(span.last - span.first + 1) bytes of its Content-Range"
            return false
        }
        bytes.append(contentsOf: chunk)
        return true
    }

    func transferDidComplete(_ transfer: Transfer, error: TransferError?) {
        done(outcome(error))
    }

    private func outcome(_ error: TransferError?) -> Outcome {
        guard let head else {
            return .failed(status: error?.timedOut == true ? 504 : 502, reason: "upstream: \(error?.message ?? "no response")",
                           upstreamUnavailable: error?.blocked != true && error?.hostAnswered != true)
        }
        if head.status == 200 { return .ignored }
        if let problem {
            transfer.discardConnection()
            return .failed(status: 502, reason: problem, upstreamUnavailable: false)
        }
        guard head.status == 206, let span else {
            return .failed(status: head.status == 404 ? 404 : 502, reason: "upstream answered \(head.status) to a range request",
                           upstreamUnavailable: false)
        }
        if let error { return .failed(status: error.timedOut ? 504 : 502, reason: "upstream: \(error.message)", upstreamUnavailable: false) }
        guard bytes.count == span.last - span.first + 1 else {
            return .failed(status: 502, reason: "truncated range: \(bytes.count) of \(span.last - span.first + 1) bytes", upstreamUnavailable: false)
        }
        return .partial(offset: span.first, bytes: bytes, total: span.total)
    }
}
