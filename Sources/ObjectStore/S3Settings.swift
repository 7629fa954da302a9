/// Where a shared object store is and how to sign for it: an S3-compatible endpoint
/// (AWS S3, MinIO, SeaweedFS...) reached with path-style URLs
/// (`<endpoint>/<bucket>/<prefix><key>`), SigV4-signed with static credentials.
public struct S3Settings: Sendable, Equatable {
    /// `http(s)://host[:port]`, no trailing slash.
    public let endpoint: String
    public let bucket: String
    /// "" or a path ending in `/` under which every key lives (several caches in one bucket).
    public let prefix: String
    public let region: String
    public let accessKey: String
    public let secretKey: String
    /// Temporary credentials (STS) come with one.
    public let sessionToken: String?
    /// Files larger than this are uploaded in parts of this size (multipart); S3 wants at least 5 MiB.
    public var partSize = 64 << 20

    /// nil and a one-line reason when a value cannot work.
    public static func make(endpoint: String, bucket: String, prefix: String, region: String,
                            accessKey: String?, secretKey: String?, sessionToken: String?) -> Result<S3Settings, S3SettingsError> {
        guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
            return .failure(S3SettingsError("--s3-endpoint must be an http:// or https:// URL, got '\(endpoint)'"))
        }
        let trimmed = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        guard !trimmed.dropFirst(trimmed.hasPrefix("https://") ? 8 : 7).contains("/") else {
            return .failure(S3SettingsError("--s3-endpoint must be scheme://host[:port] (path-style requests add the bucket), got '\(endpoint)'"))
        }
        // Credentials come from AWS_*; one in the URL would be shown in /+status and the logs.
        guard !trimmed.contains("@") else {
            return .failure(S3SettingsError("--s3-endpoint must not carry credentials (user:secret@); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"))
        }
        // S3's bucket naming rules, which also keep the name safe in a URL path.
        let validBucket = (3...63).contains(bucket.utf8.count) && bucket.utf8.allSatisfy {
            ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
        }
        guard validBucket else {
            return .failure(S3SettingsError("--s3-bucket must be 3-63 characters of a-z, 0-9, '-' and '.', got '\(bucket)'"))
        }
        guard !region.isEmpty, region.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }) else {
            return .failure(S3SettingsError("--s3-region must be a region name such as us-east-1, got '\(region)'"))
        }
        var cleanPrefix = prefix
        while cleanPrefix.hasPrefix("/") { cleanPrefix.removeFirst() }
        if !cleanPrefix.isEmpty && !cleanPrefix.hasSuffix("/") { cleanPrefix += "/" }
        guard !cleanPrefix.split(separator: "/").contains(where: { $0 == "." || $0 == ".." }),
              cleanPrefix.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(S3SettingsError("--s3-prefix must be printable ASCII without '.' or '..' segments, got '\(prefix)'"))
        }
        guard let accessKey, !accessKey.isEmpty, let secretKey, !secretKey.isEmpty else {
            return .failure(S3SettingsError("--s3-endpoint needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"))
        }
        return .success(S3Settings(endpoint: trimmed, bucket: bucket, prefix: cleanPrefix, region: region, accessKey: accessKey,
                                   secretKey: secretKey, sessionToken: sessionToken.flatMap { $0.isEmpty ? nil : $0 }))
    }

    /// The URL of a key under the prefix, each path segment percent-encoded as SigV4's
    /// canonical URI wants it (libcurl 7.88 signs the path as given).
    public func url(for key: String) -> String {
        "\(endpoint)/\(bucket)/" + (prefix + key).split(separator: "/", omittingEmptySubsequences: false)
            .map { S3Settings.encode(String($0)) }.joined(separator: "/")
    }

    public var bucketURL: String { "\(endpoint)/\(bucket)" }

    /// RFC 3986 unreserved characters stay; every other byte is %XX (upper-case hex).
    static func encode(_ segment: String) -> String {
        var out = ""
        for byte in segment.utf8 {
            let c = Character(UnicodeScalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "-._~".contains(c)) {
                out.append(c)
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}

public struct S3SettingsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
