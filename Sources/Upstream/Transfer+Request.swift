import CCurl
import Glibc
import Reactor

/// What a transfer needs beyond a plain GET, for an object store (Sources/ObjectStore):
/// another method, a request body streamed from a file or given as bytes, SigV4 signing.
/// Each is set after `init` and before `CurlMulti.add`; a refused option fails the transfer
/// like any other (`setupFailure`).
extension Transfer {
    /// `PUT`, `POST`, `DELETE`... (GET and HEAD need nothing: HEAD is `Options.headOnly`).
    public func setMethod(_ method: String) {
        checkOption(ccurl_easy_setopt_str(easy, CURLOPT_CUSTOMREQUEST, method), "CURLOPT_CUSTOMREQUEST")
    }

    /// Signs every request with AWS Signature V4 (libcurl computes it, 7.75+): `provider` as
    /// libcurl wants it, e.g. `aws:amz:us-east-1:s3`; the key pair as user and password.
    public func signAWSV4(provider: String, accessKey: String, secretKey: String) {
        checkOption(ccurl_easy_setopt_str(easy, CURLOPT_AWS_SIGV4, provider), "CURLOPT_AWS_SIGV4")
        checkOption(ccurl_easy_setopt_str(easy, CURLOPT_USERNAME, accessKey), "CURLOPT_USERNAME")
        checkOption(ccurl_easy_setopt_str(easy, CURLOPT_PASSWORD, secretKey), "CURLOPT_PASSWORD")
    }

    /// Uploads `length` bytes of `file` from `offset` as the request body, read as libcurl
    /// asks (never the whole file in memory). `file` stays open as long as the transfer.
    public func upload(from file: FileDescriptor, offset: Int = 0, length: Int) {
        let source = UploadSource(file: file, offset: offset, length: length)
        attachBody(source, length: length)
    }

    /// A small request body given whole (an XML document, a page).
    public func upload(bytes: [UInt8]) {
        attachBody(UploadSource(bytes: bytes), length: bytes.count)
    }

    /// Runs the transfer to its end on the calling thread, outside any loop. For start-up
    /// only, before the loop runs (a check that must finish before serving begins).
    public func performBlocking() {
        if let setupFailure { return fail(setupFailure) }
        complete(code: curl_easy_perform(easy))
    }

    private func attachBody(_ source: UploadSource, length: Int) {
        requestBody = source
        checkOption(ccurl_easy_setopt_long(easy, CURLOPT_UPLOAD, 1), "CURLOPT_UPLOAD")
        checkOption(ccurl_easy_setopt_off(easy, CURLOPT_INFILESIZE_LARGE, length), "CURLOPT_INFILESIZE_LARGE")
        let readFunction = ccurl_easy_setopt_data_callback(easy, CURLOPT_READFUNCTION) { ptr, size, count, user in
            Unmanaged<UploadSource>.fromOpaque(user!).takeUnretainedValue().read(into: ptr, capacity: size * count)
        }
        checkOption(readFunction, "CURLOPT_READFUNCTION")
        checkOption(ccurl_easy_setopt_ptr(easy, CURLOPT_READDATA, Unmanaged.passUnretained(source).toOpaque()), "CURLOPT_READDATA")
    }

    private func checkOption(_ code: CURLcode, _ option: String) {
        guard setupFailure == nil else { return }
        setupFailure = CurlCheck.easy(code, "curl_easy_setopt(\(option))")
    }
}

/// A request body, read in the pieces libcurl asks for (inside its read callback).
final class UploadSource {
    private let file: FileDescriptor?
    private let bytes: [UInt8]
    private var position: Int
    private let end: Int

    init(file: FileDescriptor, offset: Int, length: Int) {
        self.file = file
        bytes = []
        position = offset
        end = offset + length
    }

    init(bytes: [UInt8]) {
        file = nil
        self.bytes = bytes
        position = 0
        end = bytes.count
    }

    /// Bytes copied; 0 at the end; CURL_READFUNC_ABORT when the file cannot be read
    /// (or ends early: the declared length would be a lie).
    func read(into buffer: UnsafeMutablePointer<CChar>?, capacity: Int) -> Int {
        guard let buffer else { return Int(CURL_READFUNC_ABORT) }
        let wanted = min(capacity, end - position)
        guard wanted > 0 else { return 0 }
        if let file {
            // A regular file on local disk: pread does not move a shared descriptor's offset.
            let n = pread(file.raw, buffer, wanted, off_t(position))
            guard n > 0 else { return Int(CURL_READFUNC_ABORT) }
            position += n
            return n
        }
        bytes.withUnsafeBytes { raw in
            UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + position, byteCount: wanted)
        }
        position += wanted
        return wanted
    }
}
