import ServiceLifecycle
import UnixSignals

/// SIGHUP (a service of serve's group): `reload` re-reads the configuration and rebuilds what
/// depends on it, all or nothing (it throws before changing anything when a part does not
/// hold: the old configuration then stays, and the refusal is said).
package struct ConfigurationReloader: Service {
    let reload: @Sendable () throws -> String
    let say: @Sendable (String) -> Void

    /// `reload` returns what the new configuration is, for the log line.
    package init(reload: @escaping @Sendable () throws -> String, say: @escaping @Sendable (String) -> Void) {
        self.reload = reload
        self.say = say
    }

    package func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            do {
                say("SIGHUP: configuration re-read: \(try reload())")
            } catch {
                say("SIGHUP: the configuration was not changed: \(error)")
            }
        }
    }
}
