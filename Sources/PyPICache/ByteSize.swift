/// Sizes as people write them on a command line: `500MB`, `20GB`, `1.5G`, `2GiB`,
/// `1048576`. Decimal units (KB, MB, GB, TB; a bare K/M/G/T too) are powers of 1000,
/// binary ones (KiB, MiB, GiB, TiB) powers of 1024; no unit (or B) means bytes.
public enum ByteSize {
    /// The size in bytes, or nil when `text` is not a size (or is negative or absurd).
    public static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingSpaces
        let digits = trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        var unit = trimmed.dropFirst(digits.count).trimmingSpaces.lowercased()
        guard !digits.isEmpty, digits.first != ".", digits.last != ".", let number = Double(digits) else { return nil }
        if unit.hasSuffix("b") { unit.removeLast() }
        let multipliers: [String: Double] = [
            "": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
            "ki": 1024, "mi": 1024 * 1024, "gi": 1024 * 1024 * 1024, "ti": 1024 * 1024 * 1024 * 1024,
        ]
        guard let multiplier = multipliers[unit] else { return nil }
        let bytes = (number * multiplier).rounded()
        guard bytes < 1e18 else { return nil }
        return Int(bytes)
    }
}
