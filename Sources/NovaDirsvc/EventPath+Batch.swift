import LDAP

/// Several events at once (the service: what one read off the bus brought), written with
/// several requests outstanding on the one connection instead of one round trip each.
extension EventPath {
    /// One event of a batch, with where it came from (for its log lines).
    package struct BatchItem: Sendable {
        package let event: InstanceEvent
        package let origin: EventOrigin
        package init(_ event: InstanceEvent, origin: EventOrigin = EventOrigin()) {
            self.event = event
            self.origin = origin
        }
    }

    /// Applies, queues or keeps each event exactly as `submit` would one after the other (same
    /// outcomes, same order per instance, same log lines), before `deadline`.
    ///
    /// How: while holding the spool's lock with an empty spool, the first event of each
    /// instance that is a register is sent as an add, up to 64 outstanding (`perform`: never
    /// two on one entry). Every other event, and every register whose add did not simply
    /// succeed (the entry exists: an update; a refusal: its disposition), then goes through
    /// `submit` in order. Once the directory was found unavailable, the rest are queued
    /// without trying it again, so a batch costs one time budget, not one per event.
    package func submit(
        batch: [BatchItem], through session: DirectorySession,
        deadline: ContinuousClock.Instant
    ) -> [Result<Outcome, any Error>] {
        var results: [Result<Outcome, any Error>?] = Array(repeating: nil, count: batch.count)
        var unavailable: (any Error)? = nil
        do {
            if let lock = try spool.lock(wait: .milliseconds(50)) {
                defer { lock.release() }
                if try spool.pending().isEmpty {
                    unavailable = addFirstRegisters(batch, into: &results, through: session, deadline: deadline)
                }
            }
        } catch {
            // the spool cannot be used: `submit` below says so per event
        }
        for index in batch.indices where results[index] == nil {
            let path = from(batch[index].origin)
            let event = batch[index].event
            if let unavailable {
                results[index] = Result { try path.keep(event, after: unavailable) }
                continue
            }
            let result = Result { try path.submit(event, through: session, deadline: deadline) }
            if case .success(.queued(let reason)) = result {
                unavailable = LDAPError(code: .unavailable, operation: event.action, diagnosticMessage: reason)
            }
            results[index] = result
        }
        return results.map { $0! }
    }

    /// The pipelined adds; returns the error that showed the directory unavailable, if one did.
    private func addFirstRegisters(
        _ batch: [BatchItem], into results: inout [Result<Outcome, any Error>?],
        through session: DirectorySession, deadline: ContinuousClock.Instant
    ) -> (any Error)? {
        var seen = Set<String>()
        var candidates: [Int] = []
        for (index, item) in batch.enumerated() {
            if seen.insert(item.event.instanceUUID).inserted, case .register = item.event { candidates.append(index) }
        }
        guard candidates.count > 1 else { return nil }  // one event: `submit` is as quick
        let mapping = EntryMapping(baseDN: configuration.baseDN)
        var added = Set<Int>()
        // the server that answered each add: after a failover mid-batch, the adds answered
        // before it were applied there, not on the server the session ends on
        var answeredBy: [Int: String] = [:]
        do {
            try session.run(before: deadline, touching: candidates.map { batch[$0].event.instanceUUID }) { connection in
                // an ordered event (Nova's clock) of an instance that has a tombstone goes
                // through `submit`, which compares times (an existing entry: the add fails, and
                // `submit` takes it too). One search for the batch: every extra operation costs
                // 389-ds about what an add does (one read per event took 40% of the rate)
                let timed = candidates.filter { !added.contains($0) && batch[$0].origin.time != nil }
                let tombstones = try Registrar(connection: connection, mapping: mapping)
                    .tombstones(timed.map { batch[$0].event.instanceUUID })
                let deleted = Set(timed.filter { tombstones[batch[$0].event.instanceUUID.lowercased()] != nil })
                // run again on the next server after a failover: only what is not added yet
                let pending = candidates.filter { !added.contains($0) && !deleted.contains($0) }
                let operations: [WriteOperation] = pending.map { index in
                    guard case .register(let record) = batch[index].event else { fatalError("only registers are candidates") }
                    return .add(mapping.dn(for: record.instanceUUID), mapping.attributes(for: record, time: batch[index].origin.time))
                }
                // an add applied again after a failover reads back which entry it made
                var readded: [(instanceUUID: String, entry: Entry)] = []
                defer { session.readded(readded) }
                try connection.perform(
                    operations, readingBack: { session.readBack(forAddOf: batch[pending[$0]].event.instanceUUID) }
                ) { position, error, entry in
                    if error == nil {
                        added.insert(pending[position])
                        answeredBy[pending[position]] = session.server
                        if let entry { readded.append((batch[pending[position]].event.instanceUUID, entry)) }
                    }
                }
            }
        } catch {
            for index in added { results[index] = .success(.applied(.added)) }
            logAdded(added, of: batch, session: session, answeredBy: answeredBy)
            return Disposition(for: error) == .retryLater ? error : nil
        }
        // a delete applied by another process (competing consumers) since the tombstones were
        // looked up: its tombstone is there now; the create was stale after all
        var stale = Set<Int>()
        let timedAdded = added.filter { batch[$0].origin.time != nil }.sorted()
        if !timedAdded.isEmpty {
            do {
                try session.run(before: deadline, touching: timedAdded.map { batch[$0].event.instanceUUID }) { connection in
                    let registrar = Registrar(connection: connection, mapping: mapping)
                    let tombstones = try registrar.tombstones(timedAdded.map { batch[$0].event.instanceUUID })
                    for index in timedAdded {
                        guard let deleted = tombstones[batch[index].event.instanceUUID.lowercased()],
                            let time = batch[index].origin.time, time <= deleted
                        else { continue }
                        _ = try registrar.unregister(batch[index].event.instanceUUID)
                        stale.insert(index)
                    }
                }
            } catch {
                // the adds stand; the next event of these instances (or reconcile) settles them
                warn("warning: the tombstones of this batch could not be looked at again: \(error)")
            }
        }
        for index in added { results[index] = .success(.applied(stale.contains(index) ? .stale : .added)) }
        logAdded(added.subtracting(stale), of: batch, session: session, answeredBy: answeredBy)
        for index in stale.sorted() {
            from(batch[index].origin).record(batch[index].event, outcome: Registrar.Outcome.stale.rawValue, server: session)
        }
        return nil
    }

    private func logAdded(_ added: Set<Int>, of batch: [BatchItem], session: DirectorySession, answeredBy: [Int: String]) {
        for index in added.sorted() {
            from(batch[index].origin).record(
                batch[index].event, outcome: Registrar.Outcome.added.rawValue, server: session, answeredBy: answeredBy[index])
        }
    }
}
