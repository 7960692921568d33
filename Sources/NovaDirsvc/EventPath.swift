import LDAP

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The one path from an event to the directory: apply it in order through the spool, within a
/// deadline, and log what became of it. The CLI (one `DirectorySession` per command) and a
/// resident service (one session it keeps) both call `submit` and `flush`.
///
/// The promise: an event is applied, or durably queued in the spool, or kept in `failed/`
/// with its reason; the caller is told which. What happens on an error follows
/// `Disposition`: the directory down or busy -> queued; a problem on the caller's side
/// (credentials, configuration) -> queued events stay queued, the command fails with that
/// error's status; this event refused for good -> kept in `failed/`.
///
/// Order per instance: every write to the directory happens while holding the spool's lock,
/// and an event is applied directly only when the spool is empty; otherwise it is queued
/// behind the others and the spool is drained in order. So an unregister can never overtake
/// its register, whether they run one after the other, in parallel, or beside a `flush`.
package struct EventPath: Sendable {
    package let configuration: Configuration
    package let log: EventLog?
    package let spool: Spool
    /// Receives warnings that must not stop the event (an unwritable log, a damaged spool file).
    package let warn: @Sendable (String) -> Void
    /// Where the event at hand came from (a notification's type and id), for its log lines.
    package var origin = EventOrigin()

    /// This path, logging its lines with `origin` (the service: one per message).
    package func from(_ origin: EventOrigin) -> EventPath {
        var path = self
        path.origin = origin
        return path
    }

    package init(configuration: Configuration, warn: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.log = configuration.logFile.map(EventLog.init(path:))
        self.spool = Spool(directory: configuration.spoolDirectory)
        self.warn = warn
    }

    /// What became of an event.
    package enum Outcome: Sendable {
        /// Applied by this process.
        case applied(Registrar.Outcome)
        /// Queued, then applied from the spool (by this process or a concurrent one).
        case appliedFromSpool
        /// Queued in the spool: the directory was unavailable (or busy past the budget).
        case queued(reason: String)
    }

    /// What a flush did.
    package struct FlushSummary: Sendable {
        package var applied = 0
        /// Events still queued.
        package var remaining = 0
        /// Events moved to `failed/` (refused for good, or damaged files).
        package var setAside = 0
        /// Why the drain stopped before the spool was empty, if it did.
        package var stopReason: String?
    }

    // MARK: - One event

    /// Decodes and validates an event; bad input is logged as rejected and thrown (65). Values
    /// left out (unusable but not needed) are warned about and logged with the instance's UUID;
    /// an ignored notification is logged with its event type.
    package func decode(_ input: EventDecoder.Input, as action: EventDecoder.Action) throws -> EventDecoder.Decoded {
        let decoded: EventDecoder.Decoded
        do {
            decoded = try EventDecoder.decode(input, for: action)
        } catch {
            record(nil, action: action.rawValue, outcome: "rejected", error: error)
            throw error
        }
        from(decoded.origin).report(decoded, as: action)
        return decoded
    }

    /// `decode` for a message off the bus: one that cannot be decoded (not JSON, a hostile
    /// value) is kept as it came in `failed/`, with the reason beside it, and logged once;
    /// the error thrown says where it is. Only when even that fails is it not kept
    /// (`Spool.Failure`: the caller must not acknowledge the message).
    package func decodeKeepingRejected(_ message: Data, origin: EventOrigin) throws -> EventDecoder.Decoded {
        let decoded: EventDecoder.Decoded
        do {
            decoded = try EventDecoder.decode(.json(message), for: .any)
        } catch {
            try keepUnreadable(Array(message), origin: origin, because: error)
        }
        var merged = decoded
        merged.origin = EventOrigin(
            eventType: decoded.origin.eventType, messageID: decoded.origin.messageID ?? origin.messageID,
            time: decoded.origin.time ?? origin.time)
        from(merged.origin).report(decoded, as: .any)
        return merged
    }

    /// Keeps a message that cannot be read (not decodable, too large, compressed with an
    /// unknown method) in `failed/` as it came, with `error` as the reason beside it, logs it,
    /// and throws where it is (`EventNotAppliedError`, `.setAside`). Only when even that fails
    /// is it not kept (`Spool.Failure`: the caller must not acknowledge the message).
    package func keepUnreadable(_ message: [UInt8], origin: EventOrigin, because error: any Error) throws -> Never {
        let kept = try spool.setAside(message: message, reason: "\(error)")
        from(origin).record(nil, action: "any", outcome: "failed", error: error, detail: "kept in \(kept)")
        throw EventNotAppliedError(error: error, kept: "kept in \(kept)", state: .setAside)
    }

    private func report(_ decoded: EventDecoder.Decoded, as action: EventDecoder.Action) {
        switch decoded.kind {
        case .apply(let event):
            if !decoded.dropped.isEmpty {
                for problem in decoded.dropped { warn("warning: \(event.action) \(event.instanceUUID): \(problem); left out") }
                record(event, outcome: "accepted", warnings: decoded.dropped.map { "\($0); left out" })
            }
        case .ignored(let eventType, let uuid):
            logLine(
                action: action.rawValue, instanceUUID: uuid, record: nil, outcome: "ignored",
                error: nil, detail: "event type \(eventType) is not acted on", warnings: [])
        }
    }

    /// Applies one event, or queues it, before `deadline`. Throws (after logging) when the
    /// event was refused (it is then kept in failed/), when a problem on the caller's side
    /// stopped it (it is then queued), or when the directory was unavailable and the spool
    /// could not take it either (`UnavailableError`, 69).
    package func submit(
        _ event: InstanceEvent, through session: DirectorySession,
        deadline: ContinuousClock.Instant
    ) throws -> Outcome {
        // Try for the right to write; while someone else holds it, wait a moment before queueing.
        let lock: FileLock?
        do {
            lock = try spool.lock(wait: .milliseconds(50))
        } catch {
            return try submitWithoutSpool(event, through: session, deadline: deadline, spoolError: error)
        }
        if let lock {
            defer { lock.release() }
            if try spool.pending().isEmpty {
                do {
                    let outcome = try apply(event, through: session, deadline: deadline)
                    record(event, outcome: outcome.rawValue, server: session)
                    return .applied(outcome)
                } catch {
                    return try keep(event, after: error)
                }
            }
            let item = try enqueue(event, because: "earlier events are waiting in the spool")
            let drained = drain(through: session, deadline: deadline)
            return try outcome(of: item, drained)
        }
        // Someone else is writing (or draining): queue behind them and wait for the lock or
        // for our event to be applied, within the budget.
        let queuedAt = Date()
        let item = try enqueue(event, because: "another nova-dirsvc is writing")
        var drained = DrainResult()
        while ContinuousClock.now < deadline {
            if !spool.exists(item) { break }
            if let down = spool.unavailableSince(), down >= queuedAt {
                return .queued(reason: "the directory is unavailable (found by a concurrent nova-dirsvc)")
            }
            if let lock = try? spool.lock(wait: .milliseconds(20)) {
                defer { lock.release() }
                drained = drain(through: session, deadline: deadline)
                break
            }
        }
        return try outcome(of: item, drained)
    }

    /// An event whose direct application failed: queued, kept in failed/, or (the spool
    /// failing too) lost to the caller with both reasons.
    func keep(_ event: InstanceEvent, after error: any Error) throws -> Outcome {
        switch Disposition(for: error) {
        case .retryLater:
            spool.markUnavailable()
            do {
                _ = try spool.enqueue(event, time: origin.time)
            } catch let spoolError {
                record(event, outcome: "failed", error: error, detail: "\(spoolError)")
                throw UnavailableError(directory: error, spool: spoolError)
            }
            record(event, outcome: "queued", error: error)
            return .queued(reason: "\(error)")
        case .callerProblem:
            do {
                _ = try spool.enqueue(event, time: origin.time)
            } catch let spoolError {
                record(event, outcome: "failed", error: error, detail: "\(spoolError)")
                throw EventNotAppliedError(error: error, kept: "not kept either: \(spoolError)", state: .lost)
            }
            record(event, outcome: "queued", error: error, detail: "not applied: fix the cause, then run `nova-dirsvc flush`")
            throw EventNotAppliedError(
                error: error, kept: "queued in \(spool.directory); fix the cause, then run `nova-dirsvc flush`", state: .queued)
        case .eventRefused:
            let path: String
            do {
                path = try spool.setAside(event, reason: "\(error)")
            } catch let spoolError {  // any failure of the spool: the refusal is still what is reported
                record(event, outcome: "failed", error: error, detail: "\(spoolError)")
                throw EventNotAppliedError(error: error, kept: "not kept: \(spoolError)", state: .lost)
            }
            record(event, outcome: "failed", error: error, detail: "kept in \(path)")
            throw EventNotAppliedError(error: error, kept: "kept in \(path)", state: .setAside)
        }
    }

    /// No usable spool (folder missing and not creatable, no permission, unsafe): still try the
    /// directory, without the spool's ordering; only if that fails too is the event lost.
    private func submitWithoutSpool(
        _ event: InstanceEvent, through session: DirectorySession,
        deadline: ContinuousClock.Instant, spoolError: any Error
    ) throws -> Outcome {
        warn("warning: \(spoolError); trying the directory without the spool")
        do {
            let outcome = try apply(event, through: session, deadline: deadline)
            record(event, outcome: outcome.rawValue, server: session)
            return .applied(outcome)
        } catch {
            record(event, outcome: "failed", error: error, detail: "\(spoolError)")
            if Disposition(for: error) == .retryLater { throw UnavailableError(directory: error, spool: spoolError) }
            throw EventNotAppliedError(error: error, kept: "not kept: \(spoolError)", state: .lost)
        }
    }

    /// What became of a queued event after a drain (ours or another process's).
    private func outcome(of item: Spool.Item, _ drained: DrainResult) throws -> Outcome {
        if spool.exists(item) {
            if let problem = drained.callerProblem {
                throw EventNotAppliedError(
                    error: problem, kept: "queued in \(spool.directory); fix the cause, then run `nova-dirsvc flush`", state: .queued)
            }
            return .queued(reason: drained.stopReason ?? "the time budget ran out")
        }
        if let error = drained.setAside[item.sequence] {
            throw EventNotAppliedError(error: error, kept: "kept in \(spool.failedDirectory)/\(item.name)", state: .setAside)
        }
        if let reason = spool.setAsideReason(item) { throw SetAsideError(reason: reason) }
        return .appliedFromSpool
    }

    // MARK: -

    /// `time`: the event's by Nova's clock (default: the origin's; a spooled event's from its file).
    func apply(
        _ event: InstanceEvent, through session: DirectorySession,
        deadline: ContinuousClock.Instant, time: EventTime? = nil
    ) throws -> Registrar.Outcome {
        let outcome = try session.run(before: deadline, touching: [event.instanceUUID]) { connection in
            var registrar = Registrar(connection: connection, mapping: EntryMapping(baseDN: configuration.baseDN), warn: warn)
            registrar.readBack = session.readBack(forAddOf:)
            registrar.readded = { session.readded([($0, $1)]) }
            return try registrar.apply(event, time: time ?? origin.time)
        }
        guard case .unregister(let uuid) = event, outcome == .absent else { return outcome }
        // After a failover, "absent" here may only mean this supplier has not received the
        // entry yet: look on the others, delete it there, or keep the event queued if one of
        // them cannot be asked (never leave an orphan that replication would bring back).
        let others = session.othersToCheck
        for (index, uri) in others.enumerated() {
            var single = configuration
            single.uris = [uri]
            let share = (deadline - .now) / (others.count - index)
            do {
                let other = try Directory.connect(single, deadline: .now + share)
                defer { other.close() }
                let there = try other.withDeadline(deadline) {
                    try Registrar(connection: other, mapping: EntryMapping(baseDN: configuration.baseDN)).unregister(uuid)
                }
                if there == .deleted { return .deleted }
            } catch let error as LDAPError where error.code.isUnavailable {
                throw LDAPError(
                    code: .unavailable, operation: "unregister", dn: EntryMapping(baseDN: configuration.baseDN).dn(for: uuid).string,
                    diagnosticMessage: "absent on \(session.server ?? "the server"), and \(uri) could not be asked after a "
                        + "recent failover (\(error.code)): kept queued rather than leave an orphan")
            }
        }
        return outcome
    }

    /// Queues an event without trying the directory (the service, while the directory is
    /// known to be unavailable): behind what is in the spool, applied by the next drain.
    package func queue(_ event: InstanceEvent, because reason: String) throws -> Outcome {
        do {
            _ = try enqueue(event, because: reason)
        } catch {
            throw EventNotAppliedError(error: error, kept: "not kept: \(error)", state: .lost)
        }
        return .queued(reason: reason)
    }

    private func enqueue(_ event: InstanceEvent, because reason: String) throws -> Spool.Item {
        do {
            let item = try spool.enqueue(event, time: origin.time)
            record(event, outcome: "queued", detail: reason)
            return item
        } catch {
            record(event, outcome: "failed", error: error)
            throw error
        }
    }

    /// Appends one line to the event log; a failure to log is a warning, never lost work.
    func record(
        _ event: InstanceEvent?, action: String? = nil, outcome: String, error: (any Error)? = nil,
        detail: String? = nil, warnings: [String] = [], server session: DirectorySession? = nil,
        answeredBy: String? = nil
    ) {
        let (server, note) =
            session?.attribution(for: event?.instanceUUID, outcome: outcome, answeredBy: answeredBy) ?? (nil, nil)
        let details = [detail, note].compactMap { $0 }
        logLine(
            action: action ?? event?.action ?? "event", instanceUUID: event?.instanceUUID, record: event?.record,
            outcome: outcome, error: error.map { "\($0)" }, detail: details.isEmpty ? nil : details.joined(separator: "; "),
            warnings: warnings, server: server, passedOver: session?.passedOver ?? [])
    }

    private func logLine(
        action: String, instanceUUID: String?, record: InstanceRecord?, outcome: String,
        error: String?, detail: String?, warnings: [String], server: String? = nil, passedOver: [String] = []
    ) {
        guard let log else { return }
        if let failure = log.append(
            action: action, instanceUUID: instanceUUID, record: record, outcome: outcome,
            error: error, detail: detail, warnings: warnings, server: server, passedOver: passedOver,
            origin: origin)
        {
            warn("warning: \(failure) (the event was \(outcome))")
        }
    }
}
