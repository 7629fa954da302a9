import Glibc

/// Plain output for commands (progress, summaries): whole strings with write(2),
/// since Swift 6 code cannot use C's stdio globals.
public enum Terminal {
    public static func isTTY(_ fd: Int32 = 1) -> Bool { isatty(fd) == 1 }

    public static func write(_ text: String, fd: Int32 = 1) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buf in
            var off = 0
            while off < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
                off += n
            }
        }
    }
}
