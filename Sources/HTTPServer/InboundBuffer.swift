/// The bytes a connection has received and not yet used: the rest of a request
/// head, or pipelined requests waiting behind a response being written.
///
/// Requests are consumed by moving a start offset (no copy per request), and the
/// search for the end of a head resumes where the last one stopped, so neither a
/// deep pipeline nor a head sent byte by byte costs quadratic time. The buffer is
/// bounded by its owner: a connection reads only while it waits for a head, and a
/// partial head past the limit is refused.
struct InboundBuffer {
    private var bytes: [UInt8] = []
    /// Bytes before this index are consumed.
    private var start = 0
    /// Bytes of the pending head already searched for its end.
    private var scanned = 0

    var isEmpty: Bool { start == bytes.count }
    /// Unconsumed bytes.
    var count: Int { bytes.count - start }

    mutating func append(_ received: UnsafeRawBufferPointer) {
        if start > 0 {
            bytes.removeFirst(start)
            start = 0
        }
        bytes.append(contentsOf: received)
    }

    /// Parses the next request head, consuming its bytes when it is complete.
    mutating func nextRequest(maxHeadBytes: Int) -> RequestParser.Result {
        let result = bytes.withUnsafeBytes { all in
            RequestParser.parse(UnsafeRawBufferPointer(rebasing: all[start...]), maxHeadBytes: maxHeadBytes, scanFrom: scanned)
        }
        switch result {
        case .partial:
            scanned = count
        case .complete(_, let consumed):
            start += consumed
            scanned = 0
            if isEmpty { removeAll() }
        case .invalid:
            break
        }
        return result
    }

    /// Forgets everything and gives the memory back: an idle connection holds none.
    mutating func removeAll() {
        bytes = []
        start = 0
        scanned = 0
    }
}
