import Glibc

/// SIGTERM or SIGINT that arrives while serve connects, before its service group traps the
/// signals, would kill it by the default action (exit by signal, where a unit and the tests
/// expect the graceful 0; seen when a test stopped serve right after it said "broker:
/// connected"). Caught here instead and handed on: before the group runs, serve stops at once
/// (nothing was taken off the bus yet); once it runs, the group shuts down gracefully.
enum EarlySignals {
    /// Starts catching them (the group's own trap replaces this as it starts).
    static func install() {
        for signal in [SIGTERM, SIGINT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in earlySignalReceived = 1 }
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
    }

    static var received: Bool { earlySignalReceived != 0 }
}

/// Written by the handler only (async-signal-safe: a plain store to a statically initialized
/// global), read on the main thread.
nonisolated(unsafe) private var earlySignalReceived: sig_atomic_t = 0
