import LDAP

/// How an instance record maps to a directory entry, and back.
///
/// Each instance is `cn=<instance_uuid>,<base DN>`: structural inetOrgPerson (cn and sn are the
/// UUID), auxiliary ieee802Device (macAddress) and novaInstance (the rest; see schema/).
package struct EntryMapping: Sendable {
    package let baseDN: DistinguishedName
    package init(baseDN: DistinguishedName) { self.baseDN = baseDN }

    package static let objectClasses = [
        "top", "person", "organizationalPerson", "inetOrgPerson", "ieee802Device", NovaSchema.objectClassName,
    ]

    /// Record fields and their attributes, in the order entries are written (the key first,
    /// then `InstanceRecord.fields`). A field that is nil in the record is neither written nor
    /// removed.
    static let fields: [(attribute: String, values: @Sendable (InstanceRecord) -> [String]?)] = {
        let key: @Sendable (InstanceRecord) -> [String]? = { [$0.instanceUUID] }
        return [(InstanceRecord.keyAttribute, key)]
            + InstanceRecord.fields.map { field in (field.attribute, { @Sendable in field.values(of: $0) }) }
    }()

    /// The attributes `modifications` compares.
    package static let managedAttributes = fields.map(\.attribute)

    /// The only filter nova-dirsvc uses to find its entries.
    package static let managedFilter = Filter.equality("objectClass", NovaSchema.objectClassName)

    /// What a deleted instance leaves (`NovaSchema.tombstoneClassName`).
    package static let tombstoneFilter = Filter.equality("objectClass", NovaSchema.tombstoneClassName)

    /// What marks a 389-ds replication conflict entry (and makes a search return it at all).
    package static let conflictFilter = Filter.equality("objectClass", "ldapsubentry")

    package func dn(for instanceUUID: String) -> DistinguishedName {
        baseDN.child("cn", instanceUUID)
    }

    /// Where a deleted instance's tombstone is: `novaDeletedInstanceUUID=<uuid>,<base DN>`,
    /// beside where its entry was (another RDN: never the entry's DN).
    package func tombstoneDN(for instanceUUID: String) -> DistinguishedName {
        baseDN.child(NovaSchema.deletedInstanceUUID, instanceUUID)
    }

    /// A tombstone: the UUID and the time of the delete.
    package func tombstoneAttributes(for instanceUUID: String, time: EventTime) -> [Attribute] {
        [
            Attribute("objectClass", ["top", NovaSchema.tombstoneClassName]), Attribute(NovaSchema.deletedInstanceUUID, [instanceUUID]),
            Attribute(NovaSchema.lastEventTime, [time.generalized]),
        ]
    }

    /// The entry for a new instance; with `time`, the time of the event that makes it.
    package func attributes(for record: InstanceRecord, time: EventTime? = nil) -> [Attribute] {
        var attributes = [
            Attribute("objectClass", Self.objectClasses),
            Attribute("cn", [record.instanceUUID]), Attribute("sn", [record.instanceUUID]),
        ]
        for field in Self.fields {
            if let values = field.values(record), !values.isEmpty { attributes.append(Attribute(field.attribute, values)) }
        }
        if let time { attributes.append(Attribute(NovaSchema.lastEventTime, [time.generalized])) }
        return attributes
    }

    /// The changes that bring `entry` to `record`: a replace for each attribute the record
    /// supplies whose values differ (as sets; the order of multi-valued attributes does not
    /// matter). Attributes the record does not supply are left alone. Empty: nothing to do.
    package func modifications(from entry: Entry, to record: InstanceRecord) -> [Modification] {
        var changes: [Modification] = []
        for field in Self.fields {
            guard let wanted = field.values(record) else { continue }
            let current = entry[field.attribute]
            if Set(wanted.map { $0.lowercasedIfCaseInsensitive(field.attribute) })
                != Set(current.map { $0.lowercasedIfCaseInsensitive(field.attribute) }) || wanted.count != current.count
            {
                changes.append(.replace(field.attribute, wanted))
            }
        }
        return changes
    }

    /// Per managed attribute (in `managedAttributes` order), a 64-bit digest of `entry`'s
    /// values as `modifications` compares them: what `Reconciler.Planner` keeps of an entry
    /// instead of the entry.
    package static func digests(of entry: Entry) -> [UInt64] {
        fields.map { digest(entry[$0.attribute], of: $0.attribute) }
    }

    /// Whether `record` may change an entry whose `digests` these are. False: `modifications`
    /// would be empty (equal digests are equal values, but for a 2^-64 chance). True: it may
    /// not be (values that differ only as `modifications` does not care, e.g. their order or a
    /// repeated value, digest apart): compare with the entry to know.
    package static func mayChange(_ digests: ArraySlice<UInt64>, to record: InstanceRecord) -> Bool {
        for (index, field) in fields.enumerated() {
            guard let wanted = field.values(record) else { continue }
            if digest(wanted, of: field.attribute) != digests[digests.startIndex + index] { return true }
        }
        return false
    }

    /// FNV-1a over the values, normalized as `modifications` compares them and sorted, each
    /// ended by 0xFF (never in UTF-8: "ab","c" and "a","bc" digest apart).
    private static func digest(_ values: [String], of attribute: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in values.map({ $0.lowercasedIfCaseInsensitive(attribute) }).sorted() {
            for byte in value.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            hash = (hash ^ 0xFF) &* 0x100_0000_01b3
        }
        return hash
    }

    /// The change that stamps `entry` with `time`, unless it carries it already.
    package func timeModification(from entry: Entry, to time: EventTime?) -> Modification? {
        guard let time, entry[NovaSchema.lastEventTime].first.flatMap(EventTime.init(generalized:)) != time else { return nil }
        return .replace(NovaSchema.lastEventTime, [time.generalized])
    }

    /// Whether an entry carries the novaInstance object class (only those are ever touched).
    package static func isManaged(_ entry: Entry) -> Bool {
        entry["objectClass"].contains { $0.lowercased() == NovaSchema.objectClassName.lowercased() }
    }
}

extension EntryMapping {
    /// Attributes whose values compare without case: those whose equality rule is
    /// caseIgnoreIA5Match in `NovaSchema` (UUIDs, addresses, Keystone IDs), and macAddress
    /// (RFC 2307, the same rule). Names (caseIgnoreMatch) keep their case, so that a change of
    /// case in a project or user name is still written.
    static let caseInsensitiveAttributes: Set<String> = Set(
        NovaSchema.attributeTypes.filter { $0.equality == "caseIgnoreIA5Match" }.map(\.name) + ["macAddress"])
}

extension String {
    fileprivate func lowercasedIfCaseInsensitive(_ attribute: String) -> String {
        EntryMapping.caseInsensitiveAttributes.contains(attribute) ? lowercased() : self
    }
}
