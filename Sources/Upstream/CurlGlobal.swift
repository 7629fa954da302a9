import CCurl

/// Process-wide libcurl initialisation, called once at start-up before any
/// handle exists (curl_global_init is not thread-safe and must not be called lazily).
public enum Curl {
    public static func globalInit() {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }

    public static var version: String { String(cString: curl_version()) }
}
