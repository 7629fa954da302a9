import Reactor
import Upstream

/// One large file uploaded in parts (S3 multipart): look first (an object that exists is
/// not uploaded again), create the upload, send each part from its range of the file
/// (one at a time, streamed), then complete it, with `If-None-Match: *` when the object
/// must be created only once. Nothing is visible until the completion succeeds; a
/// failed upload is aborted so its parts do not linger.
final class S3MultipartUpload {
    private unowned let client: S3Client
    private let key: String
    private let file: FileDescriptor
    private let length: Int
    private let partSize: Int
    private let createOnly: Bool
    private var uploadID = ""
    private var etags: [String] = []
    private var done: ((S3Outcome) -> Void)?

    init(client: S3Client, key: String, file: FileDescriptor, length: Int, partSize: Int, createOnly: Bool) {
        self.client = client
        self.key = key
        self.file = file
        self.length = length
        self.partSize = max(partSize, 5 << 20)
        self.createOnly = createOnly
    }

    func start(done: @escaping (S3Outcome) -> Void) {
        self.done = done
        guard createOnly else { return create() }
        client.head(key) { [self] outcome in
            switch outcome {
            case .ok: finish(.alreadyExists)
            case .notFound: create()
            default: finish(outcome)
            }
        }
    }

    private func create() {
        client.request("POST", key, query: [("uploads", "")], body: []) { [self] outcome, body, _ in
            guard case .ok = outcome else { return finish(outcome) }
            guard let id = S3MultipartUpload.element("UploadId", in: body), !id.isEmpty else {
                return finish(.refused(status: 200, reason: "no UploadId in the answer to CreateMultipartUpload"))
            }
            uploadID = id
            sendPart(1)
        }
    }

    private func sendPart(_ number: Int) {
        let offset = (number - 1) * partSize
        guard offset < length else { return complete() }
        let size = min(partSize, length - offset)
        // Parameters in sorted order: partNumber < uploadId.
        client.request("PUT", key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                       file: (file, offset: offset, length: size)) { [self] outcome, _, head in
            guard case .ok = outcome else { return abort(outcome) }
            guard let etag = head?.header("etag") else {
                return abort(.refused(status: 200, reason: "no ETag for part \(number)"))
            }
            etags.append(etag)
            sendPart(number + 1)
        }
    }

    private func complete() {
        var xml = "<CompleteMultipartUpload>"
        for (i, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(S3MultipartUpload.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let headers = ["Content-Type: application/xml"] + (createOnly ? ["If-None-Match: *"] : [])
        client.request("POST", key, query: [("uploadId", uploadID)], headers: headers, body: Array(xml.utf8)) { [self] outcome, body, _ in
            // S3 may answer 200 and report the failure in the body.
            if case .ok = outcome, S3MultipartUpload.element("Code", in: body) != nil {
                return abort(.refused(status: 200, reason: "CompleteMultipartUpload failed: \(S3MultipartUpload.element("Code", in: body) ?? "")"))
            }
            if case .ok = outcome { return finish(outcome) }
            abort(outcome)
        }
    }

    /// Drops the parts sent so far (best effort), then reports `outcome`.
    private func abort(_ outcome: S3Outcome) {
        if !uploadID.isEmpty { client.request("DELETE", key, query: [("uploadId", uploadID)]) { _, _, _ in } }
        finish(outcome)
    }

    private func finish(_ outcome: S3Outcome) {
        let done = self.done
        self.done = nil
        done?(outcome)
    }

    /// The text of the first `<name>` element in a small XML answer.
    static func element(_ name: String, in body: [UInt8]) -> String? {
        let text = String(decoding: body, as: UTF8.self)
        guard let start = text.firstRange(of: "<\(name)>"), let end = text[start.upperBound...].firstRange(of: "</\(name)>") else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }

    /// XML text: `&`, `<`, `>` escaped (an ETag's quotes may stay as they are).
    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(c)
            }
        }
        return out
    }
}
