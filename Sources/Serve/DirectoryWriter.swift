import Dispatch
import Glibc
import NovaDirsvc
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The one writer of `serve`: every intake (the bus loop, the HTTP routes) hands its events
/// here, and one thread of its own applies them, over one `DirectorySession`, with one policy
/// for a directory that is down (`DirectoryState`: events straight to the spool, drained at a
/// growing interval) and the housekeeping of the directory (the spool drained, the writes in
/// doubt settled). What is waiting when the thread comes round (up to `batchLimit` events, from
/// any intake) is one `EventPath.submit(batch:)`: one spool lock, one pipelined round of adds.
/// Events keep the order they were handed in, per instance.
///
/// The thread blocks in libldap and in the file system, never on an event loop: the HTTP side
/// awaits `write(_:)` (a continuation), the bus loop blocks in `write(batch:)`. A service of
/// serve's group, first in it: at graceful shutdown the intakes stop first, then the writer
/// finishes what they handed in and closes the directory's connection.
package final class DirectoryWriter: @unchecked Sendable {
    package typealias Outcome = Result<EventPath.Outcome, any Error>
    private struct Job {
        let items: [EventPath.BatchItem]
        let done: @Sendable ([Outcome]) -> Void
    }

    /// A snapshot of the writer's state, for the stats line, /healthz and /metrics.
    package struct State: Sendable, Equatable {
        /// Why events are going to the spool; nil while the directory is written to.
        package var queueingReason: String?
        /// The server of the writer's connection, when it has one.
        package var server: String?
    }

    static let batchLimit = 64
    /// How long the thread sleeps when nothing is waiting: the pace of housekeeping.
    static let idleWaitMilliseconds = 250

    // the thread's own (only it reads or writes these)
    private var path: EventPath
    private var session: DirectorySession
    private var directory = DirectoryState()
    private let say: @Sendable (String) -> Void

    private let jobs = Mutex<[Job]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let counters: ServeCounters
    private let snapshot = Mutex(State())
    /// Set by `reconfigure`, taken by the thread between two batches.
    private let replacement = Mutex<(EventPath, DirectorySession)?>(nil)

    package init(configuration: Configuration, counters: ServeCounters, say: @escaping @Sendable (String) -> Void) {
        self.counters = counters
        self.path = EventPath(configuration: configuration, warn: say)
        self.session = DirectorySession(configuration: configuration)
        self.say = say
    }

    /// At start: a directory that refuses the settings or credentials throws (the service does
    /// not start: its exit status); one that does not answer is not needed (events are queued).
    /// Call before the group runs.
    package func connect() throws {
        do {
            _ = try session.run(before: .now + path.configuration.timeout) { connection in
                try Registrar(connection: connection, mapping: EntryMapping(baseDN: path.configuration.baseDN)).checkBaseExists()
            }
            say("directory: bound to \(session.server ?? "the server")")
        } catch {
            guard Disposition(for: error) == .retryLater else { throw error }
            startQueueing(because: "\(error)")
        }
        publish()
    }

    /// Applies a batch (the bus loop: what one receive brought), blocking until each event is
    /// applied, in the spool, or kept; the results in order.
    package func write(batch items: [EventPath.BatchItem]) -> [Outcome] {
        let done = DispatchSemaphore(value: 0)
        let results = Mutex<[Outcome]>([])
        enqueue(
            Job(items: items) { outcomes in
                results.withLock { $0 = outcomes }
                done.signal()
            })
        done.wait()
        return results.withLock { $0 }
    }

    /// Applies one event (an HTTP request), through the batch it joins.
    package func write(_ item: EventPath.BatchItem) async -> Outcome {
        await withCheckedContinuation { continuation in
            enqueue(Job(items: [item]) { continuation.resume(returning: $0[0]) })
        }
    }

    /// The configuration re-read (SIGHUP): taken by the thread before the next batch.
    package func reconfigure(_ configuration: Configuration) {
        replacement.withLock { $0 = (EventPath(configuration: configuration, warn: say), DirectorySession(configuration: configuration)) }
        wake.signal()
    }

    package var state: State { snapshot.withLock { $0 } }

    private func enqueue(_ job: Job) {
        jobs.withLock { $0.append(job) }
        wake.signal()
    }

    // MARK: - The thread

    private func loop() {
        while true {
            _ = wake.wait(timeout: .now() + .milliseconds(Self.idleWaitMilliseconds))
            if let (freshPath, freshSession) = replacement.withLock({ value in
                defer { value = nil }
                return value
            }) {
                session.close()
                path = freshPath
                session = freshSession
                directory = DirectoryState()
            }
            maintainDirectory()
            settleInDoubt()
            probeIfIdle()
            while true {
                let batch: [Job] = jobs.withLock { all in
                    var count = 0
                    let taken = all.prefix { job in
                        defer { count += job.items.count }
                        return count == 0 || count + job.items.count <= Self.batchLimit
                    }
                    all.removeFirst(taken.count)
                    return Array(taken)
                }
                if batch.isEmpty { break }
                let results = apply(batch.flatMap(\.items))
                var offset = 0
                for job in batch {
                    job.done(Array(results[offset..<(offset + job.items.count)]))
                    offset += job.items.count
                }
                publish()
            }
            if stopping.load(ordering: .sequentiallyConsistent) && jobs.withLock({ $0.isEmpty }) {
                session.close()
                return
            }
        }
    }

    /// The batch through the event path: written as it comes while the directory is up, else
    /// straight to the spool (in order behind what is there). A result that says the directory
    /// is down, or that a problem on our side stopped an event, starts queueing.
    private func apply(_ items: [EventPath.BatchItem]) -> [Outcome] {
        if let reason = directory.queueingReason {
            return items.map { item in Result { try path.from(item.origin).queue(item.event, because: reason) } }
        }
        let results = path.submit(batch: items, through: session, deadline: .now + path.configuration.timeout)
        for result in results {
            switch result {
            case .success(.queued(let reason)): startQueueing(because: reason)
            case .success(.applied): directory.nextProbe = .now + DirectoryState.probeInterval
            case .failure(let error as EventNotAppliedError) where error.state == .queued: startQueueing(because: "\(error.error)")
            default: break
            }
        }
        return results
    }

    private func publish() {
        let state = State(queueingReason: directory.queueingReason, server: session.server)
        snapshot.withLock { $0 = state }
    }

    /// Events go to the spool until a drain empties it.
    private func startQueueing(because reason: String) {
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
    private func maintainDirectory() {
        let now = ContinuousClock.now
        if directory.isQueueing {
            guard now >= directory.nextDrain else { return }
        } else {
            guard now >= directory.nextSpoolLook else { return }
            directory.nextSpoolLook = now + DirectoryState.spoolLookInterval
            guard let pending = try? path.spool.pending(), !pending.isEmpty else { return }
        }
        defer { publish() }
        do {
            let summary = try path.flush(through: session, deadline: .now + DirectoryState.drainBudget)
            var drained = ServiceCounters()
            drained.applied = summary.applied
            drained.failed = summary.setAside
            counters.add(drained)
            if summary.remaining == 0 && summary.stopReason == nil {
                if directory.isQueueing {
                    say("directory: back (\(session.server ?? "the server")); \(summary.applied) queued event(s) applied")
                }
                directory = DirectoryState(nextSpoolLook: .now + DirectoryState.spoolLookInterval)
                return
            }
            if summary.applied > 0 && summary.stopReason == "the time budget ran out" {
                directory.nextDrain = .now  // progress: go on after the waiting events are queued
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
        say("directory: \(reason); next try in \(Backoff.text(wait))")
    }

    /// Looks at the directory when nothing was written to it for a while (a read of the base
    /// DN, with a short budget), so that /healthz, which answers from this state and never from
    /// a directory call of its own, knows a directory that died while serve was idle. Found
    /// unavailable: events queue, as after a failed write (one policy).
    private func probeIfIdle() {
        let now = ContinuousClock.now
        guard !directory.isQueueing, jobs.withLock({ $0.isEmpty }), now >= directory.nextProbe else { return }
        directory.nextProbe = now + DirectoryState.probeInterval
        do {
            _ = try session.run(before: .now + min(path.configuration.timeout, .seconds(3))) { connection in
                try Registrar(connection: connection, mapping: EntryMapping(baseDN: path.configuration.baseDN)).checkBaseExists()
            }
        } catch {
            if Disposition(for: error) == .retryLater { startQueueing(because: "\(error)") }
            publish()
        }
    }

    /// Writes a server took without answering (`InDoubtResolver`): looked at every few seconds
    /// while there are any and the directory is up; a round that settles nothing says nothing.
    private func settleInDoubt() {
        let now = ContinuousClock.now
        guard !directory.isQueueing, now >= directory.nextInDoubtLook else { return }
        directory.nextInDoubtLook = now + DirectoryState.inDoubtInterval
        let resolver = InDoubtResolver(configuration: path.configuration, warn: say)
        guard resolver.hasWork else { return }
        do {
            let report = try resolver.settle(deadline: .now + path.configuration.timeout)
            if report.settled + report.resolved + report.expired > 0 || report.notLookedAt > 0 {
                say(
                    "directory: writes in doubt: \(report.settled) settled, \(report.resolved) replication conflicts resolved, "
                        + "\(report.expired) left to reconcile, \(report.waiting) waiting for replication"
                        + (report.notLookedAt > 0 ? ", \(report.notLookedAt) not looked at yet (the round's time ran out)" : ""))
            }
        } catch {
            say("directory: the writes in doubt could not be settled now: \(error)")
        }
    }
}

extension DirectoryWriter: Service {
    /// Runs the thread until graceful shutdown (or cancellation), then until what was handed
    /// in is done.
    package func run() async throws {
        await PosixThread.runUntilShutdown({ self.loop() }, stop: { self.requestStop() })
    }

    private func requestStop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
    }
}
