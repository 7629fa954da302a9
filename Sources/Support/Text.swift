/// Small text helpers every layer needs, without Foundation.
extension StringProtocol {
    /// Trims the given characters (compared as Unicode scalars, so "\r\n" counts as two) from both ends.
    public func trimmingCharacters(in set: String) -> String {
        let scalars = Substring(self).unicodeScalars
        let drop = Set(set.unicodeScalars)
        guard let first = scalars.firstIndex(where: { !drop.contains($0) }),
              let last = scalars.lastIndex(where: { !drop.contains($0) }) else { return "" }
        return String(scalars[first...last])
    }
}
