import Glibc

/// The signals a service answers (SIGTERM, SIGINT: stop; SIGHUP: reload), taken synchronously:
/// they are blocked in every thread (call `block()` first thing, before any thread starts) and
/// collected with sigtimedwait(2) between two steps of the loop, so a signal never interrupts
/// a write half-way and a wait for the next try is cut short by one.
struct Signals {
    static let handled = [SIGTERM, SIGINT, SIGHUP]

    private var set: sigset_t = {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in Signals.handled { sigaddset(&set, signal) }
        return set
    }()

    /// Blocks the handled signals for this thread and the threads it starts.
    func block() {
        var set = self.set
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// A pending signal, waiting up to `duration` for one (0: just look).
    func wait(for duration: Duration) -> Int32? {
        var set = self.set
        let (seconds, attoseconds) = max(duration, .zero).components
        var timeout = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        let signal = sigtimedwait(&set, nil, &timeout)
        return signal > 0 ? signal : nil
    }

    static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(signal)"
        }
    }
}
