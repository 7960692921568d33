import LDAP

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The spool side of the event path: flush, and the drain every writer runs before applying
/// anything new (see `EventPath` for the order this keeps).
extension EventPath {
    /// Replays the whole spool in order (`nova-dirsvc flush`) before `deadline`; what is left
    /// when the budget runs out stays queued. Throws when a problem on the caller's side
    /// stopped it (the queue is left as it was).
    package func flush(through session: DirectorySession, deadline: ContinuousClock.Instant) throws -> FlushSummary {
        spool.removeStaleTemporaries()
        var summary = FlushSummary()
        guard let lock = try spool.lock(wait: min(configuration.timeout, deadline - .now)) else {
            summary.remaining = try spool.pending().count
            summary.stopReason = "another nova-dirsvc holds the spool"
            return summary
        }
        defer { lock.release() }
        let drained = drain(through: session, deadline: deadline)
        if let problem = drained.callerProblem { throw problem }
        summary.applied = drained.applied
        summary.setAside = drained.setAside.count + drained.damaged
        summary.remaining = try spool.pending().count
        summary.stopReason = drained.stopReason
        return summary
    }

    struct DrainResult {
        var applied = 0
        var damaged = 0
        /// Why the drain stopped early (budget, directory unavailable, caller problem).
        var stopReason: String?
        /// The problem on the caller's side that stopped it, if that is why.
        var callerProblem: (any Error)?
        /// The events set aside for good, by sequence number, with the reason.
        var setAside: [UInt64: any Error] = [:]
    }

    /// Replays the spool in order until it is empty, the directory is unavailable, a problem
    /// on the caller's side stops it, or the deadline passes. Call with the spool's lock held.
    /// Events for one instance collapse into what they amount to; an instance whose events the
    /// directory refuses for good has them set aside, and the others go on.
    func drain(through session: DirectorySession, deadline: ContinuousClock.Instant) -> DrainResult {
        var result = DrainResult()
        // A file that cannot be moved to failed/ would be met again and again: stop instead.
        func setAside(_ move: () throws -> Void) -> Bool {
            do {
                try move()
                return true
            } catch {
                result.stopReason = "\(error)"
                result.callerProblem = error
                return false
            }
        }
        for name in spool.strays() {
            guard setAside({ try spool.quarantine(name: name, reason: "not a file name nova-dirsvc writes: not replayed") }) else {
                return result
            }
            result.damaged += 1
            warn(
                "warning: \(spool.directory)/\(Validate.escaped(name)) is not a name nova-dirsvc writes: moved to \(spool.failedDirectory)/"
            )
        }
        while true {
            guard let items = try? spool.pending(), !items.isEmpty else { return result }
            var groups: [String: [(Spool.Item, InstanceEvent, EventTime?)]] = [:]
            var order: [String] = []
            for item in items {
                do {
                    let (event, time) = try spool.readTimed(item)
                    if groups[event.instanceUUID] == nil { order.append(event.instanceUUID) }
                    groups[event.instanceUUID, default: []].append((item, event, time))
                } catch {
                    guard setAside({ try spool.quarantine(item, reason: "\(error)") }) else { return result }
                    result.damaged += 1
                    warn("warning: \(error): moved to \(spool.failedDirectory)/, not replayed")
                    record(nil, action: "flush", outcome: "damaged", error: error)
                }
            }
            for uuid in order {
                if ContinuousClock.now >= deadline {
                    result.stopReason = "the time budget ran out"
                    return result
                }
                let group = groups[uuid]!
                // a write begun before the budget ran out gets its whole timeout: one cut short
                // by the budget would be taken for a directory that does not answer
                let writeDeadline = max(deadline, .now + configuration.timeout)
                do {
                    for (event, time) in Self.collapse(group.map { ($0.1, $0.2) }) {
                        let outcome = try apply(event, through: session, deadline: writeDeadline, time: time)
                        record(event, outcome: outcome.rawValue, detail: "from the spool", server: session)
                    }
                    for (item, _, _) in group { spool.remove(item) }
                    if result.applied == 0 { spool.clearUnavailable() }
                    result.applied += group.count
                } catch {
                    switch Disposition(for: error) {
                    case .retryLater:
                        result.stopReason = "\(error)"
                        spool.markUnavailable()
                        return result
                    case .callerProblem:
                        result.stopReason = "\(error)"
                        result.callerProblem = error
                        return result
                    case .eventRefused:
                        for (item, _, _) in group {
                            guard setAside({ try spool.quarantine(item, reason: "\(error)") }) else { return result }
                            result.setAside[item.sequence] = error
                        }
                        warn("warning: \(error): the queued events for \(uuid) were moved to \(spool.failedDirectory)/")
                        record(group.last?.1, outcome: "failed", error: error, detail: "from the spool; set aside")
                    }
                }
            }
        }
    }

    /// What a run of events for one instance amounts to: the last unregister (if any), then
    /// the events after it merged (later fields win) into one register, or into one update if
    /// no register came after the unregister (an update never creates an entry). Each with the
    /// newest time (Nova's clock) of what it stands for, when they had times.
    static func collapse(_ events: [(InstanceEvent, EventTime?)]) -> [(InstanceEvent, EventTime?)] {
        var result: [(InstanceEvent, EventTime?)] = []
        var merged: InstanceRecord? = nil
        var mergedTime: EventTime? = nil
        var registers = false
        for (event, time) in events {
            switch event {
            case .unregister:
                result = [(event, time)]
                merged = nil
                mergedTime = nil
                registers = false
            case .register(let record), .update(let record):
                merged = merged.map { $0.overlaid(with: record) } ?? record
                mergedTime = [mergedTime, time].compactMap { $0 }.max()
                if case .register = event { registers = true }
            }
        }
        if let merged { result.append((registers ? .register(merged) : .update(merged), mergedTime)) }
        return result
    }
}
