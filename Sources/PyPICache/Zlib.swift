import CZlib

/// zlib over whole buffers, for Gzip (page bodies) and ZipReader (wheel members).
enum Zlib {
    /// Feeds all of `input` to an initialised stream and runs `step` (deflate or
    /// inflate with Z_FINISH) into a buffer of `capacity` bytes. Returns zlib's
    /// status and the bytes produced.
    static func oneShot(_ stream: inout z_stream, input: [UInt8], capacity: Int,
                        _ step: (inout z_stream) -> Int32) -> (status: Int32, output: [UInt8]) {
        var input = input
        var output = [UInt8](repeating: 0, count: capacity)
        let status: Int32 = input.withUnsafeMutableBytes { inBuf in
            output.withUnsafeMutableBytes { outBuf in
                stream.next_in = inBuf.bindMemory(to: Bytef.self).baseAddress
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(outBuf.count)
                return step(&stream)
            }
        }
        return (status, Array(output.prefix(Int(stream.total_out))))
    }
}
