/// A stored page being read from disk a slice at a time, and who waits for it.
final class PageLoad {
    /// Decoding is several times faster than rendering: bigger slices, the same time each.
    static let filesPerSlice = 4_000
    let name: ProjectName
    var decoder: PageCodec.Decoder
    var waiters: [(ProjectPage?) -> Void] = []

    init(name: ProjectName, decoder: PageCodec.Decoder) {
        self.name = name
        self.decoder = decoder
    }
}
