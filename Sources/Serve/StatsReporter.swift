import NovaDirsvc
import ServiceLifecycle

/// The stats line on standard error every `interval` (a service of serve's group): the
/// counters, the spool's depth, the directory's and the broker's state.
package struct StatsReporter: Service {
    let interval: Duration?
    let counters: ServeCounters
    let writer: DirectoryWriter
    let intake: BusIntake?
    let spool: Spool
    let say: @Sendable (String) -> Void

    package init(
        interval: Duration?, counters: ServeCounters, writer: DirectoryWriter, intake: BusIntake?, spool: Spool,
        say: @escaping @Sendable (String) -> Void
    ) {
        self.interval = interval
        self.counters = counters
        self.writer = writer
        self.intake = intake
        self.spool = spool
        self.say = say
    }

    package func run() async throws {
        guard let interval else {
            try? await gracefulShutdown()
            return
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: interval) })) != nil else { return }
            say("stats: \(line)")
        }
    }

    /// `received=... spool=0 directory=up broker=connected`
    package var line: String {
        let depth = (try? spool.pending().count).map(String.init) ?? "?"
        return "\(counters.snapshot.line) spool=\(depth) directory=\(writer.state.queueingReason != nil ? "queueing" : "up")"
            + (intake.map { " broker=\($0.isConnected ? "connected" : "retrying")" } ?? "")
    }
}
