import LDAP

/// How an instance record maps to a directory entry, and back.
///
/// Each instance is `cn=<instance_uuid>,<base DN>`: structural inetOrgPerson (cn and sn are the
/// UUID), auxiliary ieee802Device (macAddress) and novaInstance (the rest; see schema/).
public struct EntryMapping: Sendable {
    public let baseDN: DistinguishedName
    public init(baseDN: DistinguishedName) { self.baseDN = baseDN }

    public static let objectClasses = ["top", "person", "organizationalPerson", "inetOrgPerson", "ieee802Device", "novaInstance"]

    /// Record fields and their attributes, in the order entries are written.
    /// A field that is nil in the record is neither written nor removed.
    static let fields: [(attribute: String, values: @Sendable (InstanceRecord) -> [String]?)] = [
        ("novaInstanceUUID", { [$0.instanceUUID] }),
        ("novaImageUUID", { $0.imageUUID.map { [$0] } }),
        ("macAddress", { $0.macAddresses }),
        ("novaProjectName", { $0.projectName.map { [$0] } }),
        ("novaUserName", { $0.userName.map { [$0] } }),
        ("novaUserRemoteAddress", { $0.userRemoteAddress.map { [$0] } }),
        ("novaHostname", { $0.hostname.map { [$0] } }),
        ("novaIPAddress", { $0.ipAddresses }),
        ("novaProjectID", { $0.projectID.map { [$0] } }),
        ("novaUserID", { $0.userID.map { [$0] } }),
    ]

    /// The attributes `InstanceRecord(entry:)` reads and `modifications` compares.
    public static let managedAttributes = fields.map(\.attribute)

    /// The only filter nova-dirsvc uses to find its entries.
    public static let managedFilter = Filter.equality("objectClass", "novaInstance")

    public func dn(for instanceUUID: String) -> DistinguishedName {
        baseDN.child("cn", instanceUUID)
    }

    /// The entry for a new instance.
    public func attributes(for record: InstanceRecord) -> [Attribute] {
        var attributes = [Attribute("objectClass", Self.objectClasses),
                          Attribute("cn", [record.instanceUUID]), Attribute("sn", [record.instanceUUID])]
        for field in Self.fields {
            if let values = field.values(record), !values.isEmpty { attributes.append(Attribute(field.attribute, values)) }
        }
        return attributes
    }

    /// The changes that bring `entry` to `record`: a replace for each attribute the record
    /// supplies whose values differ (as sets; the order of multi-valued attributes does not
    /// matter). Attributes the record does not supply are left alone. Empty: nothing to do.
    public func modifications(from entry: Entry, to record: InstanceRecord) -> [Modification] {
        var changes: [Modification] = []
        for field in Self.fields {
            guard let wanted = field.values(record) else { continue }
            let current = entry[field.attribute]
            if Set(wanted.map { $0.lowercasedIfCaseInsensitive(field.attribute) })
                != Set(current.map { $0.lowercasedIfCaseInsensitive(field.attribute) }) || wanted.count != current.count {
                changes.append(.replace(field.attribute, wanted))
            }
        }
        return changes
    }

    /// Whether an entry carries the novaInstance object class (only those are ever touched).
    public static func isManaged(_ entry: Entry) -> Bool {
        entry["objectClass"].contains { $0.lowercased() == "novainstance" }
    }

    /// Reads the record back from an entry.
    public static func record(from entry: Entry) -> InstanceRecord {
        func one(_ name: String) -> String? { entry[name].first }
        func many(_ name: String) -> [String]? { let v = entry[name]; return v.isEmpty ? nil : v }
        return InstanceRecord(instanceUUID: one("novaInstanceUUID") ?? "", imageUUID: one("novaImageUUID"),
                              macAddresses: many("macAddress"), projectName: one("novaProjectName"),
                              userName: one("novaUserName"), userRemoteAddress: one("novaUserRemoteAddress"),
                              hostname: one("novaHostname"), ipAddresses: many("novaIPAddress"),
                              projectID: one("novaProjectID"), userID: one("novaUserID"))
    }
}

private extension String {
    /// Values whose matching rule ignores case compare without case; names keep their case so
    /// that a change of case in a project or user name is still written.
    func lowercasedIfCaseInsensitive(_ attribute: String) -> String {
        ["novaInstanceUUID", "novaImageUUID", "macAddress", "novaUserRemoteAddress", "novaIPAddress"].contains(attribute)
            ? lowercased() : self
    }
}
