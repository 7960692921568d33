import Synchronization

/// What serve has done since it started: the stats line and /metrics.
package struct ServiceCounters: Sendable, Equatable {
    /// Messages taken off the bus.
    package var received = 0
    /// Events the directory confirmed (also those applied from the spool).
    package var applied = 0
    /// Notifications of a type the service does not act on: acknowledged, nothing written.
    package var ignored = 0
    /// Events acknowledged into the spool (the directory down, or a problem on our side).
    package var queued = 0
    /// Messages kept in SPOOL/failed/ (not decodable, or refused for good).
    package var failed = 0
    /// Messages the broker delivered again (not acknowledged before a restart or a lost connection).
    package var redelivered = 0
    /// Events older by Nova's clock than what was applied to their instance: not applied.
    package var stale = 0

    package init() {}

    /// `received=12 applied=10 ignored=1 queued=0 failed=1 redelivered=0 stale=0`
    package var line: String {
        "received=\(received) applied=\(applied) ignored=\(ignored) queued=\(queued) failed=\(failed) redelivered=\(redelivered)"
            + " stale=\(stale)"
    }

    package mutating func add(_ other: ServiceCounters) {
        received += other.received
        applied += other.applied
        ignored += other.ignored
        queued += other.queued
        failed += other.failed
        redelivered += other.redelivered
        stale += other.stale
    }
}

/// The one owner of serve's counters: the bus intake and the writer's drains add to it, the
/// stats line and /metrics read it. Counters only grow.
package final class ServeCounters: Sendable {
    private let counts = Mutex(ServiceCounters())

    package init() {}

    package func add(_ delta: ServiceCounters) {
        counts.withLock { $0.add(delta) }
    }

    package var snapshot: ServiceCounters { counts.withLock { $0 } }
}
