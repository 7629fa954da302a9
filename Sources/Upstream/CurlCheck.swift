import CCurl

/// The one checked path for libcurl calls: every `curl_easy_setopt`, `curl_multi_setopt`
/// and `curl_multi_*` result goes through here, so a refused option (say
/// `CURLOPT_PROTOCOLS_STR` on a libcurl too old for it, which would silently drop the
/// http/https-only rule) is never ignored: it fails the transfer, or the start-up,
/// with the operation's name.
public struct CurlFailure: Error, CustomStringConvertible, Sendable {
    /// What was called, e.g. `curl_easy_setopt(CURLOPT_PROTOCOLS_STR)`.
    public let operation: String
    public let reason: String
    public var description: String { "\(operation) failed: \(reason)" }
}

enum CurlCheck {
    /// nil when libcurl said OK.
    static func easy(_ code: CURLcode, _ operation: @autoclosure () -> String) -> CurlFailure? {
        code == CURLE_OK ? nil : CurlFailure(operation: operation(), reason: String(cString: curl_easy_strerror(code)))
    }

    static func multi(_ code: CURLMcode, _ operation: @autoclosure () -> String) -> CurlFailure? {
        code == CURLM_OK ? nil : CurlFailure(operation: operation(), reason: String(cString: curl_multi_strerror(code)))
    }
}
