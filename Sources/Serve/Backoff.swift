/// Waits that double after each failure, from `initial` up to `maximum`, and start over after
/// a success: how the service retries the broker and the directory.
struct Backoff {
    let initial: Duration
    let maximum: Duration
    private(set) var current: Duration?

    init(initial: Duration = .seconds(1), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait before the next try.
    mutating func next() -> Duration {
        let wait = current.map { min($0 * 2, maximum) } ?? initial
        current = wait
        return wait
    }

    mutating func reset() { current = nil }
}

extension Backoff {
    /// A wait in words: "0.5 s", "30 s".
    static func text(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = attoseconds / 100_000_000_000_000_000
        return tenths == 0 ? "\(seconds) s" : "\(seconds).\(tenths) s"
    }
}
