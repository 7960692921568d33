import Glibc
import ServiceLifecycle

/// Signals that arrive while serve connects, before its service group and its reloader trap
/// them, would kill it by their default action: SIGTERM or SIGINT (exit by signal, where a unit
/// and the tests expect the graceful 0; seen when a test stopped serve right after it said
/// "broker: connected"), and SIGHUP (`systemctl reload` during a slow start; seen when a test
/// sent it right after "broker: connected" on a loaded machine). Caught here from the start
/// instead and handed on: a stop before the group runs ends serve at once (nothing was taken
/// off the bus yet), after that it is the group's graceful shutdown (`EarlyStopHandover`); a
/// SIGHUP is the reloader's first re-read (`ConfigurationReloader`'s `caughtBeforeTrap`).
enum EarlySignals {
    /// Starts catching them (the group's and the reloader's own traps replace this as they start).
    static func install() {
        catching([SIGTERM, SIGINT]) { _ in earlyStop = 1 }
        catching([SIGHUP]) { _ in earlyHangUp = 1 }
    }

    /// A SIGTERM or SIGINT was caught by this handler.
    static var received: Bool { earlyStop != 0 }

    /// A SIGHUP was caught by this handler; true once only (it asks for one re-read).
    static func takeHangUp() -> Bool {
        defer { earlyHangUp = 0 }
        return earlyHangUp != 0
    }

    private static func catching(_ signals: [Int32], _ handler: @convention(c) (Int32) -> Void) {
        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = handler
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
    }
}

/// Hands a SIGTERM or SIGINT caught before the group's trap to the group. `ServiceGroup` traps
/// its signals before it starts any service: when this service runs, no later one can be
/// missed, and one caught earlier ends it at once (the group's graceful shutdown, as its
/// success termination behaviour says). Otherwise it waits for the shutdown like the others.
struct EarlyStopHandover: Service {
    func run() async throws {
        if EarlySignals.received { return }
        try await gracefulShutdown()
    }
}

/// Written by the handlers only (async-signal-safe: plain stores to statically initialized
/// globals), read by serve's tasks.
nonisolated(unsafe) private var earlyStop: sig_atomic_t = 0
nonisolated(unsafe) private var earlyHangUp: sig_atomic_t = 0
