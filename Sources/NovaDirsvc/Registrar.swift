import LDAP

/// Writes register and unregister events to the directory, idempotently, touching only
/// entries that carry the novaInstance object class.
public struct Registrar {
    public let connection: LDAPConnection
    public let mapping: EntryMapping

    public init(connection: LDAPConnection, mapping: EntryMapping) {
        self.connection = connection
        self.mapping = mapping
    }

    /// What an event did.
    public enum Outcome: String, Sendable {
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
    }

    public func apply(_ event: InstanceEvent) throws -> Outcome {
        switch event {
        case .register(let record): return try register(record)
        case .unregister(let uuid): return try unregister(uuid)
        case .update(let record): return try update(record)
        }
    }

    /// Adds the entry, or brings an existing one up to date (only the changed attributes).
    /// A new instance costs one add: the common case is as quick as `ldapadd`.
    public func register(_ record: InstanceRecord) throws -> Outcome {
        let dn = mapping.dn(for: record.instanceUUID)
        do {
            try connection.add(dn, mapping.attributes(for: record))
            return .added
        } catch LDAPResultCode.entryAlreadyExists {
            // fall through: update the existing entry
        } catch let error as LDAPError where error.code == .noSuchObject {
            // the parent of the new entry, the base DN, is not there
            throw BaseDNMissingError(baseDN: mapping.baseDN.string, serverSaid: "\(error.code)")
        }
        guard let entry = try readOwned(dn, attributes: ["objectClass"] + EntryMapping.managedAttributes) else {
            // It exists (the add said so) but this identity cannot see it: not ours.
            throw ForeignEntryError(dn: dn.string)
        }
        guard EntryMapping.isManaged(entry) else { throw ForeignEntryError(dn: dn.string) }
        let changes = mapping.modifications(from: entry, to: record)
        if changes.isEmpty { return .unchanged }
        try connection.modify(dn, changes)
        return .updated
    }

    /// Brings an existing entry up to date with what the record supplies (only the changed
    /// attributes); an absent entry is left absent.
    public func update(_ record: InstanceRecord) throws -> Outcome {
        let dn = mapping.dn(for: record.instanceUUID)
        guard let entry = try readOwned(dn, attributes: ["objectClass"] + EntryMapping.managedAttributes) else { return try absent() }
        guard EntryMapping.isManaged(entry) else { throw ForeignEntryError(dn: dn.string) }
        let changes = mapping.modifications(from: entry, to: record)
        if changes.isEmpty { return .unchanged }
        try connection.modify(dn, changes)
        return .updated
    }

    /// Deletes the entry if it exists and carries novaInstance; an absent entry is success.
    ///
    /// The class is checked by a read just before the delete. (The LDAP assertion control,
    /// RFC 4528, would make the check atomic with the delete, but 389-ds does not implement
    /// it; in a least-privilege deployment the service account's ACI, whose targetfilter is
    /// (objectClass=novaInstance), enforces the same rule on the server side.)
    public func unregister(_ instanceUUID: String) throws -> Outcome {
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
    public func checkBaseExists() throws {
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
    public func conflicts(_ instanceUUID: String) throws -> [DistinguishedName] {
        try connection.search(base: mapping.baseDN, scope: .oneLevel,
                              filter: .and([EntryMapping.managedFilter, EntryMapping.conflictFilter,
                                            .equality("novaInstanceUUID", instanceUUID)]),
                              attributes: ["1.1"]).map(\.dn)
    }

    /// The entry of an instance, or nil.
    public func show(_ instanceUUID: String) throws -> Entry? {
        try connection.read(mapping.dn(for: instanceUUID), filter: EntryMapping.managedFilter,
                            attributes: ["*", "createTimestamp", "modifyTimestamp"])
    }
}

/// An entry exists at the instance's DN but is not nova-dirsvc's (no novaInstance object class,
/// or not visible to this identity): it is left alone.
public struct ForeignEntryError: Error, CustomStringConvertible {
    public let dn: String
    public init(dn: String) { self.dn = dn }
    public var description: String {
        "refusing to touch \"\(dn)\": an entry exists there without the novaInstance object class (or invisible to this account)"
    }
}
