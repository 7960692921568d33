import Glibc
import LDAP

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Writes whose answer was lost: a supplier stopped (or hung) after it received a write and
/// before it answered. It may have applied the write and replicate it once it is back, while
/// the event was applied again on the next supplier: two adds of one DN on two suppliers are
/// a replication naming conflict (389-ds keeps both, one renamed `nsuniqueid=...+cn=...`), two
/// tombstones likewise, and a delete on the one can miss the entry the other added.
///
/// The instances concerned are remembered here, per process group (`SPOOL/.in-doubt`, JSON,
/// beside `.servers`), with the server that did not answer; `InDoubtResolver` settles them once
/// every supplier answers again. Only with several servers: one server that did not answer
/// is asked again, and finds its own write.
struct InDoubtLedger {
    let path: String

    struct Item: Equatable {
        /// The server that took the write and did not answer.
        var server: String
        /// When (seconds since the epoch).
        var since: Double
        /// The server that applied the instance's add again, and the `nsUniqueId` of the entry
        /// that add made (read back in its answer): when both adds were applied, the one entry
        /// 389-ds keeps at the DN (the add with the earlier CSN) is then known to be this one or
        /// the other. Nil: no add was applied again (an update, or found done).
        var readdedOn: String? = nil
        var readdedID: String? = nil
    }

    init(spoolDirectory: String) { path = "\(spoolDirectory)/.in-doubt" }

    /// Whether anything is in doubt (one stat: what the service asks on every idle turn).
    var isEmpty: Bool {
        var info = stat()
        return lstat(path, &info) != 0 || info.st_size <= 3
    }

    func load() -> [String: Item] {
        guard let data = POSIX.read(path: path, limit: 64 << 20, followSymlinks: false),
            let object = (try? JSONValue.parse(data))?.object
        else { return [:] }
        var items: [String: Item] = [:]
        for (uuid, value) in object {
            guard let item = value.object, let server = item["server"]?.string,
                case .number(let since)? = item["since"]
            else { continue }
            items[uuid] = Item(
                server: server, since: since, readdedOn: item["readded_on"]?.string, readdedID: item["readded_id"]?.string)
        }
        return items
    }

    /// Changes the ledger under its lock (every process of the group writes it).
    func update(_ change: (inout [String: Item]) -> Void) throws {
        let lock = try FileLock(path: path + ".lock", wait: .seconds(2))
        defer { lock.release() }
        var items = load()
        let before = items
        change(&items)
        guard items != before else { return }
        var object: [String: JSONValue] = [:]
        for (uuid, item) in items {
            var fields: [String: JSONValue] = ["server": .string(item.server), "since": .number(item.since)]
            if let readdedOn = item.readdedOn, let readdedID = item.readdedID {
                fields["readded_on"] = .string(readdedOn)
                fields["readded_id"] = .string(readdedID)
            }
            object[uuid] = .object(fields)
        }
        let bytes = Array((JSONValue.object(object).text + "\n").utf8)
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Spool.Failure(description: "cannot write \(temporary): \(POSIX.errorText)") }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Spool.Failure(description: "cannot write \(path): \(POSIX.errorText)")
        }
    }
}

/// Settles the instances in doubt (`InDoubtLedger`) once every configured server answers
/// (`serve` every few seconds while there are any, `flush` after its drain; `reconcile` removes
/// whatever conflict entry is left in any case). For each instance, every server is asked for
/// its entry, its tombstone and their replication conflict entries (with `nsUniqueId`, which
/// tells two entries of one DN apart):
/// - conflict entries on a server: resolved there (they replicate): the newest by Nova's clock
///   (`novaLastEventTime`; a tie, or none: the conflict entry, the later write) is what the
///   entry keeps, the conflict entries are deleted; the instance stays in doubt until the next
///   look finds the servers agreeing;
/// - every server holds the same entry and tombstone (same `nsUniqueId`, same time): settled;
///   an entry its tombstone is not older than (a delete that missed the other supplier's add)
///   is deleted first;
/// - otherwise replication has not caught up: looked at again later (after `patience`, left to
///   reconcile, with a warning).
/// Each settled or resolved instance gets an event log line naming the server that applied it;
/// for a resolved conflict, the server whose add the entry left at the DN is (`keeper`).
package struct InDoubtResolver {
    package let configuration: Configuration
    let log: EventLog?
    let warn: (String) -> Void
    /// How long servers may disagree about an instance before it is left to reconcile.
    static let patience: Double = 86_400

    package init(configuration: Configuration, warn: @escaping (String) -> Void) {
        self.configuration = configuration
        self.log = configuration.logFile.map { EventLog(path: $0) }
        self.warn = warn
    }

    package struct Report: Sendable, Equatable {
        /// In agreement on every server: no longer in doubt.
        package var settled = 0
        /// Replication conflicts resolved (looked at again next time).
        package var resolved = 0
        /// Still disagreeing (replication has not caught up).
        package var waiting = 0
        /// Left to reconcile after `patience`.
        package var expired = 0
        /// Not looked at: the round's time budget ran out first (a later round gets to them).
        package var notLookedAt = 0
        /// The server not answering, when that stopped the round.
        package var waitingFor: String?
        package var isEmpty: Bool { settled + resolved + waiting + expired + notLookedAt == 0 && waitingFor == nil }
    }

    /// How many instances one pair of searches per server asks about.
    static let chunkSize = 25

    /// Whether anything is in doubt.
    package var hasWork: Bool { configuration.uris.count > 1 && !configuration.inDoubtLedger.isEmpty }

    /// One round, before `deadline`, a chunk of instances at a time: what a chunk settled
    /// leaves the ledger at once, so a round cut short by its budget (a loaded server: the rest
    /// is `notLookedAt`) still makes progress, and each round starts at a random place in the
    /// list, so that a slow part cannot keep the rest from ever being looked at. Throws what
    /// stopped it (a server refusing a read or a write for a reason other than availability);
    /// the ledger then keeps every instance not settled yet.
    package func settle(deadline: ContinuousClock.Instant) throws -> Report {
        let ledger = configuration.inDoubtLedger
        let items = ledger.load()
        var report = Report()
        guard !items.isEmpty else { return report }
        let now = ServerHealth.now()
        // a server lately found down is not waited for again (its back-off), nor one that hangs
        let health = configuration.serverHealth
        let (_, passedOver) = health.order(configuration.uris, state: health.load(), now: now)
        var connections: [(uri: String, connection: LDAPConnection)] = []
        defer { for (_, connection) in connections { connection.close() } }
        if let down = passedOver.first {
            report.waitingFor = String(down.prefix { $0 != " " }).trimmingSuffix(":")
        } else {
            for (index, uri) in configuration.uris.enumerated() {
                var single = configuration
                single.uris = [uri]
                do {
                    let share = (deadline - .now) / (configuration.uris.count - index)
                    connections.append((uri, try Directory.connect(single, deadline: .now + share)))
                } catch let error as LDAPError where error.code.isUnavailable {
                    report.waitingFor = uri
                    break
                }
            }
        }
        if report.waitingFor != nil {
            let expired = items.filter { now - $0.value.since > Self.patience }
            if !expired.isEmpty { try expire(expired, report: &report, ledger: ledger) }
            return report
        }
        let mapping = EntryMapping(baseDN: configuration.baseDN)
        let sorted = items.keys.sorted()
        let first = Int.random(in: 0..<sorted.count)
        let uuids = Array(sorted[first...] + sorted[..<first])
        for start in stride(from: 0, to: uuids.count, by: Self.chunkSize) {
            let chunk = Array(uuids[start..<min(start + Self.chunkSize, uuids.count)])
            var done: Set<String> = []
            var looked = 0
            do {
                var seen: [[String: Found]] = []
                for (_, connection) in connections {
                    seen.append(try connection.withDeadline(deadline) { try Self.find(chunk, on: connection, mapping: mapping) })
                }
                for uuid in chunk {
                    try look(
                        at: uuid, items[uuid]!, views: seen.map { $0[uuid] ?? Found() }, connections, deadline: deadline,
                        now: now, mapping: mapping, report: &report, done: &done)
                    looked += 1
                }
            } catch let error as LDAPError where error.code == .timeout && ContinuousClock.now >= deadline - .milliseconds(1) {
                report.notLookedAt = uuids.count - start - looked
            }
            if !done.isEmpty { try ledger.update { items in for uuid in done { items[uuid] = nil } } }
            if report.notLookedAt > 0 { return report }
        }
        return report
    }

    /// Settles, resolves or leaves one instance, from what each server holds of it (`views`).
    private func look(
        at uuid: String, _ item: InDoubtLedger.Item, views: [Found], _ connections: [(uri: String, connection: LDAPConnection)],
        deadline: ContinuousClock.Instant, now: Double, mapping: EntryMapping, report: inout Report, done: inout Set<String>
    ) throws {
        if let index = views.firstIndex(where: { !$0.conflicts.isEmpty }) {
            let (uri, connection) = connections[index]
            let removed = try connection.withDeadline(deadline) {
                try Self.resolve(uuid, views[index], on: connection, mapping: mapping)
            }
            report.resolved += 1
            let kept = Self.keeper(of: views[index], item)
            record(
                uuid, outcome: "conflict-resolved", server: kept,
                detail: "\(item.server) applied this instance's write without answering and replicated it once back; "
                    + "it was applied again on \(item.readdedOn ?? "another server"): \(removed) replication conflict "
                    + "entries removed on \(uri), the newest values kept in the entry \(kept) added")
        } else if views.dropFirst().allSatisfy({ $0.signature == views[0].signature }) {
            let (uri, connection) = connections[0]
            let zombie = try connection.withDeadline(deadline) {
                try Self.removeZombie(uuid, views[0], on: connection, mapping: mapping)
            }
            done.insert(uuid)
            report.settled += 1
            record(
                uuid, outcome: zombie ? "zombie-deleted" : "settled", server: zombie ? uri : nil,
                detail: zombie
                    ? "its tombstone is newer than the entry another server's late write left: deleted"
                    : "every server agrees (the write \(item.server) did not answer is settled)")
        } else if now - item.since > Self.patience {
            try expire([uuid: item], report: &report, ledger: configuration.inDoubtLedger)
        } else {
            report.waiting += 1
        }
    }

    /// The server whose add is the entry at the DN: the one that added it again, if the entry
    /// is the one its add made (same `nsUniqueId`), else the one that did not answer (its late
    /// add, with the earlier CSN, kept the DN; or no add was applied again).
    static func keeper(of found: Found, _ item: InDoubtLedger.Item) -> String {
        guard let readdedOn = item.readdedOn, let readdedID = item.readdedID?.lowercased(),
            found.entry?["nsUniqueId"].first?.lowercased() == readdedID
        else { return item.server }
        return readdedOn
    }

    private func expire(_ expired: [String: InDoubtLedger.Item], report: inout Report, ledger: InDoubtLedger) throws {
        for (uuid, item) in expired {
            warn(
                "warning: instance \(uuid): its write on \(item.server) went unanswered over a day ago and the servers still "
                    + "do not agree; left to `nova-dirsvc reconcile`")
        }
        report.expired += expired.count
        try ledger.update { items in for uuid in expired.keys { items[uuid] = nil } }
    }

    private func record(_ uuid: String, outcome: String, server: String?, detail: String) {
        guard let log else { return }
        if let failure = log.append(
            action: "settle", instanceUUID: uuid, record: nil, outcome: outcome, detail: detail,
            server: server)
        {
            warn("warning: \(failure)")
        }
    }

    // MARK: - One server's view

    /// What one server holds of an instance.
    struct Found {
        var entry: Entry?
        var tombstone: Entry?
        var conflicts: [Entry] = []
        /// What must be the same on every server (two entries of one DN differ in nsUniqueId).
        var signature: [String] {
            [
                entry?["nsUniqueId"].first ?? "-", entry?[NovaSchema.lastEventTime].first ?? "-",
                tombstone?["nsUniqueId"].first ?? "-", tombstone?[NovaSchema.lastEventTime].first ?? "-",
            ]
        }
    }

    static let attributes =
        ["objectClass", "cn", "sn"] + EntryMapping.managedAttributes
        + [NovaSchema.lastEventTime, NovaSchema.deletedInstanceUUID, "nsUniqueId"]

    /// Entries, tombstones and conflict entries of `uuids` (keys lowercased); 389-ds returns the
    /// conflict entries (ldapsubentry) only to a search that asks for them.
    static func find(_ uuids: [String], on connection: LDAPConnection, mapping: EntryMapping) throws -> [String: Found] {
        let keys = uuids.flatMap { [Filter.equality(InstanceRecord.keyAttribute, $0), .equality(NovaSchema.deletedInstanceUUID, $0)] }
        let ours = Filter.and([.or([EntryMapping.managedFilter, EntryMapping.tombstoneFilter]), .or(keys)])
        var found: [String: Found] = [:]
        for conflicts in [false, true] {
            let filter = conflicts ? Filter.and([EntryMapping.conflictFilter, ours]) : ours
            try connection.search(base: mapping.baseDN, scope: .oneLevel, filter: filter, attributes: attributes) { entry in
                let isTombstone = entry["objectClass"].contains { $0.lowercased() == NovaSchema.tombstoneClassName.lowercased() }
                guard
                    let uuid = (isTombstone ? entry[NovaSchema.deletedInstanceUUID] : entry[InstanceRecord.keyAttribute]).first?
                        .lowercased()
                else { return }
                if conflicts {
                    found[uuid, default: Found()].conflicts.append(entry)
                } else if isTombstone {
                    found[uuid, default: Found()].tombstone = entry
                } else {
                    found[uuid, default: Found()].entry = entry
                }
            }
        }
        return found
    }

    private static func time(_ entry: Entry?) -> EventTime? {
        entry?[NovaSchema.lastEventTime].first.flatMap(EventTime.init(generalized:))
    }

    /// Brings the entry (and tombstone) to the newest of them and their conflict entries, then
    /// deletes the conflict entries. Returns how many were deleted.
    static func resolve(_ uuid: String, _ found: Found, on connection: LDAPConnection, mapping: EntryMapping) throws -> Int {
        let isTombstone = { (entry: Entry) in
            entry["objectClass"].contains { $0.lowercased() == NovaSchema.tombstoneClassName.lowercased() }
        }
        let entryConflicts = found.conflicts.filter { !isTombstone($0) }
        let tombstoneConflicts = found.conflicts.filter(isTombstone)
        if let entry = found.entry, !entryConflicts.isEmpty {
            var newest = entry
            for conflict in entryConflicts where (time(conflict) ?? EventTime.distantPast) >= (time(newest) ?? EventTime.distantPast) {
                newest = conflict
            }
            if newest != entry {
                let changes = (EntryMapping.managedAttributes.dropFirst() + [NovaSchema.lastEventTime]).compactMap { name in
                    Set(newest[name]) == Set(entry[name]) ? nil : Modification.replace(name, newest[name])
                }
                if !changes.isEmpty { try connection.modify(entry.dn, changes) }
            }
        }
        if let tombstone = found.tombstone, let newest = tombstoneConflicts.compactMap(time).max(),
            newest > (time(tombstone) ?? EventTime.distantPast)
        {
            try connection.modify(tombstone.dn, [.replace(NovaSchema.lastEventTime, [newest.generalized])])
        }
        var removed = 0
        for conflict in found.conflicts {
            do {
                try connection.delete(conflict.dn)
                removed += 1
            } catch LDAPResultCode.noSuchObject {}
        }
        if found.tombstone == nil, let newest = tombstoneConflicts.compactMap(time).max() {
            do {
                try connection.add(mapping.tombstoneDN(for: uuid), mapping.tombstoneAttributes(for: uuid, time: newest))
            } catch LDAPResultCode.entryAlreadyExists {}
        }
        return removed
    }

    /// Deletes an entry whose tombstone is not older than it (the entry's add reached this
    /// server after the delete that was meant for it). Returns whether it did.
    static func removeZombie(_ uuid: String, _ found: Found, on connection: LDAPConnection, mapping: EntryMapping) throws -> Bool {
        guard let entry = found.entry, let deleted = time(found.tombstone), let written = time(entry), written <= deleted,
            EntryMapping.isManaged(entry)
        else { return false }
        do {
            try connection.delete(entry.dn)
        } catch LDAPResultCode.noSuchObject {
            return false
        }
        return true
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
