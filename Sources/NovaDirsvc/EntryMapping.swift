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
