import LDAP

/// Writes register and unregister events to the directory, idempotently, touching only
/// entries that carry the novaInstance object class.
package struct Registrar {
    package let connection: LDAPConnection
    package let mapping: EntryMapping
    /// Told what went wrong beside the event without stopping it (a tombstone not written).
    package var warn: ((String) -> Void)?
    /// What to read back from the add of an instance (`DirectorySession.readBack`), and who is
    /// told the entry read back.
    package var readBack: ((_ instanceUUID: String) -> [String]?)? = nil
    package var readded: ((_ instanceUUID: String, _ entry: Entry) -> Void)? = nil

    package init(connection: LDAPConnection, mapping: EntryMapping, warn: ((String) -> Void)? = nil) {
        self.connection = connection
        self.mapping = mapping
        self.warn = warn
    }

    /// What an event did.
    package enum Outcome: String, Sendable {
        /// register: a new entry.
        case added
        /// register: the entry existed and the changed attributes were replaced.
        case updated
        /// register: the entry existed and already matched the record.
        case unchanged
        /// unregister: the entry was deleted.
        case deleted
        /// unregister, update: there was no entry (nothing to do; success).
        case absent
        /// register, update: older by Nova's clock than what was applied last (the entry's
        /// `novaLastEventTime`, or the delete its tombstone records): not applied.
        case stale
    }

    /// Applies an event. With `time` (Nova's clock), in order: a register or update older than
    /// the last event applied to the instance (the entry's `novaLastEventTime`), or a register
    /// not newer than the instance's delete (its tombstone), is stale and not applied; what is
    /// applied stamps the entry with `time`; an unregister always deletes (Nova never brings an
    /// instance back) and leaves a tombstone with the newest delete time. One event's look-ups
    /// are reads by DN (a batch's, one search: `tombstones`). Without `time` (a record from the
    /// CLI, the hook, HTTP), as it comes.
    package func apply(_ event: InstanceEvent, time: EventTime? = nil) throws -> Outcome {
        switch event {
        case .register(let record): return try register(record, time: time)
        case .update(let record): return try update(record, time: time)
        case .unregister(let uuid):
            guard let time else { return try unregister(uuid) }
            let tombstone = try tombstoneTime(uuid)
            let outcome = try unregister(uuid)
            let deletedAt = max(time, tombstone ?? time)
            leaveTombstone(uuid, time: deletedAt, existing: tombstone)
            // a create applied by another process between our delete and our tombstone: it
            // checked for the tombstone before we wrote it; we look for its entry after (one of
            // the two always sees the other's write)
            if let late = try readOwned(mapping.dn(for: uuid), attributes: ["objectClass", NovaSchema.lastEventTime]),
                EntryMapping.isManaged(late), !Self.isOlder(deletedAt, than: late)
            {
                _ = try unregister(uuid)
                return .deleted
            }
            return outcome
        }
    }

    /// The time of an instance's delete, from its tombstone; nil when it has none.
    package func tombstoneTime(_ uuid: String) throws -> EventTime? {
        try connection.read(
            mapping.tombstoneDN(for: uuid), filter: EntryMapping.tombstoneFilter,
            attributes: [NovaSchema.lastEventTime])?[NovaSchema.lastEventTime].first
            .flatMap(EventTime.init(generalized:))
    }

    /// The delete times of those of `uuids` that have a tombstone (keys lowercased), in one
    /// one-level search: objectClass is indexed (389-ds and OpenLDAP index it by default), so
    /// only the tombstones are looked through, not the instances.
    package func tombstones(_ uuids: [String]) throws -> [String: EventTime] {
        guard !uuids.isEmpty else { return [:] }
        let keys = uuids.map { Filter.equality(NovaSchema.deletedInstanceUUID, $0) }
        var found: [String: EventTime] = [:]
        try connection.search(
            base: mapping.baseDN, scope: .oneLevel,
            filter: .and([EntryMapping.tombstoneFilter, keys.count == 1 ? keys[0] : .or(keys)]),
            attributes: [NovaSchema.deletedInstanceUUID, NovaSchema.lastEventTime]
        ) { entry in
            if let uuid = entry[NovaSchema.deletedInstanceUUID].first?.lowercased(),
                let time = entry[NovaSchema.lastEventTime].first.flatMap(EventTime.init(generalized:))
            {
                found[uuid] = max(time, found[uuid] ?? time)
            }
        }
        return found
    }

    /// Whether an event at `time` is older than the last one applied to `entry`.
    private static func isOlder(_ time: EventTime?, than entry: Entry) -> Bool {
        guard let time, let last = entry[NovaSchema.lastEventTime].first.flatMap(EventTime.init(generalized:)) else { return false }
        return time < last
    }

    /// Writes or moves forward the tombstone of a deleted instance. A failure (an account whose
    /// ACI predates tombstones) does not undo the delete: it is said, and late creates of this
    /// instance are then not refused.
    private func leaveTombstone(_ uuid: String, time: EventTime, existing: EventTime?) {
        let dn = mapping.tombstoneDN(for: uuid)
        do {
            if existing == nil {
                do {
                    try connection.add(dn, mapping.tombstoneAttributes(for: uuid, time: time))
                    return
                } catch LDAPResultCode.entryAlreadyExists {}
            }
            if existing != time { try connection.modify(dn, [.replace(NovaSchema.lastEventTime, [time.generalized])]) }
        } catch {
            warn?("warning: the tombstone of \(uuid) could not be written (\(error)): a late create of it would not be refused")
        }
    }

    private func removeTombstone(_ uuid: String) {
        do {
            try connection.delete(mapping.tombstoneDN(for: uuid))
        } catch LDAPResultCode.noSuchObject {
        } catch {
            warn?("warning: the tombstone of \(uuid) could not be removed (\(error))")
        }
    }

    /// Adds the entry, or brings an existing one up to date (only the changed attributes).
    /// A new instance costs one add: the common case is as quick as `ldapadd`.
    package func register(_ record: InstanceRecord, time: EventTime? = nil) throws -> Outcome {
        let dn = mapping.dn(for: record.instanceUUID)
        var tombstone: EventTime? = nil
        if let time {
            tombstone = try tombstoneTime(record.instanceUUID)
            if let tombstone, time <= tombstone { return .stale }  // a create of a deleted instance, late
        }
        do {
            if let names = readBack?(record.instanceUUID) {
                let entry = try connection.add(dn, mapping.attributes(for: record, time: time), readingBack: names)
                if let entry { readded?(record.instanceUUID, entry) }
            } else {
                try connection.add(dn, mapping.attributes(for: record, time: time))
            }
            if tombstone != nil {
                removeTombstone(record.instanceUUID)  // newer than the delete
            } else if let time, let deleted = try tombstoneTime(record.instanceUUID), time <= deleted {
                // deleted by another process since we looked: the create was stale after all
                _ = try unregister(record.instanceUUID)
                return .stale
            }
            return .added
        } catch LDAPResultCode.entryAlreadyExists {
            // fall through: update the existing entry
        } catch let error as LDAPError where error.code == .noSuchObject {
            // the parent of the new entry, the base DN, is not there
            throw BaseDNMissingError(baseDN: mapping.baseDN.string, serverSaid: "\(error.code)")
        }
        guard let entry = try readOwned(dn, attributes: Self.readAttributes) else {
            // It exists (the add said so) but this identity cannot see it: not ours.
            throw ForeignEntryError(dn: dn.string)
        }
        guard EntryMapping.isManaged(entry) else { throw ForeignEntryError(dn: dn.string) }
        if Self.isOlder(time, than: entry) { return .stale }
        let outcome = try bringUpToDate(dn, entry, record, time: time)
        if tombstone != nil { removeTombstone(record.instanceUUID) }
        return outcome
    }

    /// What a register or update reads of an existing entry.
    static let readAttributes = ["objectClass"] + EntryMapping.managedAttributes + [NovaSchema.lastEventTime]

    /// The changed attributes replaced, and the entry stamped with `time`; only a change of a
    /// value counts as `updated`.
    private func bringUpToDate(_ dn: DistinguishedName, _ entry: Entry, _ record: InstanceRecord, time: EventTime?) throws -> Outcome {
        let changes = mapping.modifications(from: entry, to: record)
        let stamp = mapping.timeModification(from: entry, to: time)
        if changes.isEmpty && stamp == nil { return .unchanged }
        try connection.modify(dn, changes + (stamp.map { [$0] } ?? []))
        return changes.isEmpty ? .unchanged : .updated
    }

    /// Brings an existing entry up to date with what the record supplies (only the changed
    /// attributes); an absent entry is left absent.
    package func update(_ record: InstanceRecord, time: EventTime? = nil) throws -> Outcome {
        let dn = mapping.dn(for: record.instanceUUID)
        guard let entry = try readOwned(dn, attributes: Self.readAttributes) else { return try absent() }
        guard EntryMapping.isManaged(entry) else { throw ForeignEntryError(dn: dn.string) }
        if Self.isOlder(time, than: entry) { return .stale }
        return try bringUpToDate(dn, entry, record, time: time)
    }

    /// Deletes the entry if it exists and carries novaInstance; an absent entry is success.
    ///
    /// The class is checked by a read just before the delete. (The LDAP assertion control,
    /// RFC 4528, would make the check atomic with the delete, but 389-ds does not implement
    /// it; in a least-privilege deployment the service account's ACI, whose targetfilter is
    /// (objectClass=novaInstance), enforces the same rule on the server side.)
    package func unregister(_ instanceUUID: String) throws -> Outcome {
        let dn = mapping.dn(for: instanceUUID)
        guard let entry = try readOwned(dn, attributes: ["objectClass"]) else { return try absent() }
        guard EntryMapping.isManaged(entry) else { throw ForeignEntryError(dn: dn.string) }
        do {
            try connection.delete(dn)
            return .deleted
        } catch LDAPResultCode.noSuchObject {
            return .absent  // deleted by someone else in between
        }
    }

    /// "absent", once it is sure the base DN itself exists: 389-ds answers "nothing found" below
    /// a base that does not exist, as below one that is empty.
    private func absent() throws -> Outcome {
        try checkBaseExists()
        return .absent
    }

    /// Throws `BaseDNMissingError` when the base DN cannot be read (it does not exist, or this
    /// account may not see it: the example ACI lets it read the containers).
    package func checkBaseExists() throws {
        guard try connection.read(mapping.baseDN, attributes: ["objectClass"]) != nil else {
            throw BaseDNMissingError(baseDN: mapping.baseDN.string, serverSaid: "nothing found at the base DN")
        }
    }

    /// Reads the entry at an instance's DN; an entry that is a referral (to another server) is
    /// not ours, whichever way it is approached.
    private func readOwned(_ dn: DistinguishedName, attributes: [String]) throws -> Entry? {
        do {
            return try connection.read(dn, attributes: attributes)
        } catch LDAPResultCode.referral {
            throw ForeignEntryError(dn: dn.string)
        }
    }

    /// The replication conflict entries of an instance (389-ds), which normal searches never show.
    package func conflicts(_ instanceUUID: String) throws -> [DistinguishedName] {
        try connection.search(
            base: mapping.baseDN, scope: .oneLevel,
            filter: .and([
                EntryMapping.managedFilter, EntryMapping.conflictFilter,
                .equality("novaInstanceUUID", instanceUUID),
            ]),
            attributes: ["1.1"]
        ).map(\.dn)
    }

    /// The entry of an instance, or nil.
    package func show(_ instanceUUID: String) throws -> Entry? {
        try connection.read(
            mapping.dn(for: instanceUUID), filter: EntryMapping.managedFilter,
            attributes: ["*", "createTimestamp", "modifyTimestamp"])
    }
}

/// An entry exists at the instance's DN but is not nova-dirsvc's (no novaInstance object class,
/// or not visible to this identity): it is left alone.
package struct ForeignEntryError: Error, CustomStringConvertible {
    package let dn: String
    package init(dn: String) { self.dn = dn }
    package var description: String {
        "refusing to touch \"\(dn)\": an entry exists there without the novaInstance object class (or invisible to this account)"
    }
}
