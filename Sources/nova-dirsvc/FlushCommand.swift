import ArgumentParser
import CommandSupport
import NovaDirsvc

struct FlushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush",
        abstract: "Apply the events queued in the spool, in the order they arrived.",
        discussion: """
            Events for one instance collapse into what they amount to (a register followed
            by an unregister is one delete). An event is removed from the spool only after
            the directory confirmed it. A damaged spool file, or an event the directory
            refuses for good, is moved to SPOOL/failed/ and reported. Run it from a timer
            (examples/systemd/) or cron.
            Exit status: 0 the spool is empty; 75 events remain (the directory is
            unavailable); 1 something was set aside in SPOOL/failed/; 64, 77 as for
            register (a problem with the configuration or the credentials leaves every
            event queued). Its time budget is \(Configuration.flushBudgetFactor) times
            --timeout; what is left then stays queued (75).
            With several servers, it then settles the writes a server took without
            answering (replication conflicts they left are resolved; see
            docs/architecture.md).
            """)

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let configuration = try connection.resolve()
        let session = DirectorySession(configuration: configuration)
        defer { session.close() }
        let summary = try EventPath(configuration: configuration, warn: warn)
            .flush(through: session, deadline: .now + configuration.flushBudget)
        print("flush: applied \(summary.applied), remaining \(summary.remaining), set aside \(summary.setAside)")
        let resolver = InDoubtResolver(configuration: configuration, warn: warn)
        if summary.remaining == 0, resolver.hasWork {
            do {
                let report = try resolver.settle(deadline: .now + configuration.timeout)
                print(
                    "flush: writes in doubt: \(report.settled) settled, \(report.resolved) replication conflicts resolved, "
                        + "\(report.waiting) waiting for replication" + (report.waitingFor.map { ", waiting for \($0)" } ?? "")
                        + (report.notLookedAt > 0 ? ", \(report.notLookedAt) not looked at yet (the time budget ran out)" : ""))
            } catch {
                warn("warning: the writes in doubt could not be settled now: \(error)")
            }
        }
        if summary.remaining > 0 {
            warn("flush stopped: \(summary.stopReason ?? "unknown")")
            throw ExitCode(ExitStatus.tempFail.rawValue)
        }
        if summary.setAside > 0 { throw ExitCode(1) }
    }
}
