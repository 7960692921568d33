import ServiceLifecycle
import UnixSignals

/// SIGHUP (a service of serve's group): `reload` re-reads the configuration and rebuilds what
/// depends on it, all or nothing (it throws before changing anything when a part does not
/// hold: the old configuration then stays, and the refusal is said).
package struct ConfigurationReloader: Service {
    let reload: @Sendable () throws -> String
    let say: @Sendable (String) -> Void
    let caughtBeforeTrap: @Sendable () -> Bool

    /// `reload` returns what the new configuration is, for the log line. `caughtBeforeTrap`:
    /// whether a SIGHUP came while serve started, before this service trapped the signal
    /// (asked once, after the trap is in place: such a SIGHUP is one re-read, not lost).
    package init(
        reload: @escaping @Sendable () throws -> String, say: @escaping @Sendable (String) -> Void,
        caughtBeforeTrap: @escaping @Sendable () -> Bool = { false }
    ) {
        self.reload = reload
        self.say = say
        self.caughtBeforeTrap = caughtBeforeTrap
    }

    package func run() async throws {
        let hangUps = await UnixSignalsSequence(trapping: .sighup)
        if caughtBeforeTrap() { apply() }
        for await _ in hangUps.cancelOnGracefulShutdown() { apply() }
    }

    private func apply() {
        do {
            say("SIGHUP: configuration re-read: \(try reload())")
        } catch {
            say("SIGHUP: the configuration was not changed: \(error)")
        }
    }
}
