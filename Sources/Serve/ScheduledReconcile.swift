import Glibc
import NovaDirsvc
import ServiceLifecycle
import Synchronization

/// `[nova] reconcile_interval`: serve brings the directory in line with Nova's API by itself,
/// every interval (a service of serve's group). Each round:
/// - is skipped while the directory is being fed from the spool (the writer is queueing, or
///   events wait there): what Nova says then may be ahead of what the spool will write;
/// - is claimed in the directory (`ReconcileLease`): of all the serves of a directory, one runs
///   a round per interval (the others say it was claimed);
/// - reads the directory's index, then Nova's list page by page against it (`read`: Keystone,
///   then every page; a failure changes nothing; `Reconciler.Planner`), plans with the usual
///   guards (`reconcile_grace`, at most 10% of the entries deleted) and applies, over a
///   connection of its own, on a thread of its own: events keep flowing through the writer
///   meanwhile (an entry they added or deleted since the index was read is left to them:
///   `Summary.overtaken`);
/// - ends with one event log line (`"action": "reconcile"`) and a count by outcome (`onOutcome`,
///   /metrics).
package final class ScheduledReconcile: Service, @unchecked Sendable {
    /// Replaced on SIGHUP (`reconfigure`); the interval stays (a change takes a restart).
    private let current: Mutex<Configuration>
    var configuration: Configuration { current.withLock { $0 } }
    let interval: Duration
    /// Nova's list, page by page (NovaServerList.read: the Serve target does not link libcurl).
    let read: @Sendable (Configuration.Nova, (InstanceListDecoder.InstanceList) throws -> Void) throws -> Void
    let writer: DirectoryWriter
    let say: @Sendable (String) -> Void
    /// Told each round's outcome: done, refused, failed, skipped, claimed-elsewhere.
    package var onOutcome: (@Sendable (String) -> Void)?

    package init(
        configuration: Configuration, interval: Duration, writer: DirectoryWriter,
        read: @escaping @Sendable (Configuration.Nova, (InstanceListDecoder.InstanceList) throws -> Void) throws -> Void,
        say: @escaping @Sendable (String) -> Void
    ) {
        self.current = Mutex(configuration)
        self.interval = interval
        self.read = read
        self.writer = writer
        self.say = say
    }

    /// The configuration re-read (SIGHUP): the next round uses it.
    package func reconfigure(_ configuration: Configuration) { current.withLock { $0 = configuration } }

    package func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: self.interval) })) != nil else { return }
            await PosixThread.run { self.round() }
        }
    }

    func round() {
        let configuration = self.configuration
        guard let nova = configuration.nova else {
            finish("skipped", "no [nova] auth_url any more (SIGHUP): restart serve to stop the schedule")
            return
        }
        let path = EventPath(configuration: configuration, warn: say)
        if writer.state.queueingReason != nil || ((try? path.spool.pending().isEmpty) ?? false) == false {
            finish("skipped", "the directory is being fed from the spool: reconcile waits for the next round")
            return
        }
        let mapping = EntryMapping(baseDN: configuration.baseDN)
        do {
            let connection = try Directory.connect(configuration, deadline: .now + configuration.timeout)
            defer { connection.close() }
            let now = ServerHealth.now()
            let until = EventTime(seconds: now + Self.seconds(interval) * 0.9)
            let claimed = try connection.withDeadline(.now + configuration.timeout) {
                try ReconcileLease.claim(connection, mapping: mapping, now: EventTime(seconds: now), until: until)
            }
            guard claimed else {
                finish("claimed-elsewhere", "another serve runs this round")
                return
            }
            var limits = Reconciler.Limits()
            limits.grace = configuration.nova?.reconcileGrace ?? limits.grace
            let reconciler = Reconciler(connection: connection, mapping: mapping)
            var planner = try Reconciler.Planner(reconciler, limits: limits)
            try read(nova) { try planner.add($0) }
            let plan = try planner.finish()
            if let refusal = plan.refusal {
                finish("refused", "\(refusal)")
                return
            }
            let summary = try reconciler.apply(plan)
            finish(
                summary.failures.isEmpty ? "done" : "failed",
                "round claimed until \(until); nova: \(planner.live) live servers; \(summary.description)"
                    + (summary.failures.first.map { "; first failure: \($0.error)" } ?? ""))
        } catch {
            finish("failed", "\(error) (nothing deleted)")
        }
    }

    private func finish(_ outcome: String, _ detail: String) {
        let configuration = self.configuration
        say("reconcile: \(outcome): \(detail)")
        onOutcome?(outcome)
        guard let log = configuration.logFile.map({ EventLog(path: $0) }) else { return }
        if let failure = log.append(action: "reconcile", instanceUUID: nil, record: nil, outcome: outcome, detail: detail) {
            say("warning: \(failure)")
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (s, atto) = duration.components
        return Double(s) + Double(atto) / 1e18
    }
}

extension EventTime {
    /// A wall-clock time in seconds since the epoch.
    init(seconds: Double) { self.init(microseconds: Int64(seconds * 1_000_000)) }
}
