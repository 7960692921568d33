import Glibc
import LDAP
import NovaDirsvc

/// The service's view of the directory: up (events are written as they come), or queueing
/// (it was found unavailable, or refusing us: events go straight to the spool, acknowledged
/// there, and the spool is drained at growing intervals until it is empty again).
struct DirectoryState {
    /// Why the directory is not being written to, since when; nil while it is up.
    var queueingReason: String?
    var backoff = Backoff()
    var nextDrain = ContinuousClock.now
    /// When the spool was last looked at while up (events queued by the CLI, by a concurrent
    /// service): every few seconds.
    var nextSpoolLook = ContinuousClock.now
    /// When the writes in doubt (a server that took a write without answering) are looked at next.
    var nextInDoubtLook = ContinuousClock.now

    var isQueueing: Bool { queueingReason != nil }
    static let spoolLookInterval: Duration = .seconds(5)
    /// A drain's budget: short, so that signals and the bus are looked at between two.
    static let drainBudget: Duration = .seconds(5)
    static let inDoubtInterval: Duration = .seconds(5)
}

extension Service {
    /// At start: a directory that refuses our settings or credentials ends the service (its
    /// exit status); one that does not answer is not needed to start (events are queued).
    func startDirectory() throws {
        do {
            _ = try session.run(before: .now + configuration.directory.timeout) { connection in
                try Registrar(connection: connection, mapping: EntryMapping(baseDN: configuration.directory.baseDN)).checkBaseExists()
            }
            say("directory: bound to \(session.server ?? "the server")")
        } catch {
            guard Disposition(for: error) == .retryLater else { throw error }
            startQueueing(because: "\(error)")
        }
    }

    /// Events go to the spool until a drain empties it.
    func startQueueing(because reason: String) {
        if directory.queueingReason == nil {
            say("directory: \(reason); queueing events in \(path.spool.directory) until it is back")
            directory.backoff.reset()
            directory.nextDrain = .now + directory.backoff.next()
        }
        directory.queueingReason = reason
    }

    /// Drains the spool when it is time: while queueing, at the backoff's pace; while up,
    /// when a look every few seconds finds events there (queued by the CLI or by another
    /// service while this one was down).
    func maintainDirectory() {
        let now = ContinuousClock.now
        if directory.isQueueing {
            guard now >= directory.nextDrain else { return }
        } else {
            guard now >= directory.nextSpoolLook else { return }
            directory.nextSpoolLook = now + DirectoryState.spoolLookInterval
            guard let pending = try? path.spool.pending(), !pending.isEmpty else { return }
        }
        do {
            let summary = try path.flush(through: session, deadline: .now + DirectoryState.drainBudget)
            counters.applied += summary.applied
            counters.failed += summary.setAside
            if summary.remaining == 0 && summary.stopReason == nil {
                if directory.isQueueing {
                    say("directory: back (\(session.server ?? "the server")); \(summary.applied) queued event(s) applied")
                }
                directory = DirectoryState(nextSpoolLook: .now + DirectoryState.spoolLookInterval)
                return
            }
            if summary.applied > 0 && summary.stopReason == "the time budget ran out" {
                directory.nextDrain = .now  // progress: go on after one look at the bus
                if !directory.isQueueing { directory.queueingReason = "draining the spool" }
                return
            }
            retryDrainLater(summary.stopReason ?? "events remain in the spool")
        } catch {
            retryDrainLater("\(error)")
        }
    }

    private func retryDrainLater(_ reason: String) {
        if !directory.isQueueing { startQueueing(because: reason) }
        let wait = directory.backoff.next()
        directory.nextDrain = .now + wait
        directory.queueingReason = reason
        say("directory: \(reason); next try in \(Self.seconds(wait))")
    }

    /// Writes a server took without answering (`InDoubtResolver`): looked at every few seconds
    /// while there are any and the directory is up; a round that settles nothing says nothing.
    func settleInDoubt() {
        let now = ContinuousClock.now
        guard !directory.isQueueing, now >= directory.nextInDoubtLook else { return }
        directory.nextInDoubtLook = now + DirectoryState.inDoubtInterval
        let resolver = InDoubtResolver(configuration: configuration.directory, warn: say)
        guard resolver.hasWork else { return }
        do {
            let report = try resolver.settle(deadline: .now + configuration.directory.timeout)
            if report.settled + report.resolved + report.expired > 0 {
                say("directory: writes in doubt: \(report.settled) settled, \(report.resolved) replication conflicts resolved, "
                    + "\(report.expired) left to reconcile, \(report.waiting) waiting for replication")
            }
        } catch {
            say("directory: the writes in doubt could not be settled now: \(error)")
        }
    }
}
