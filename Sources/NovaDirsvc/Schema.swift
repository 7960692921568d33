/// The directory schema of nova-dirsvc: the one source of truth for `schema/*.ldif` (a test
/// checks that the files there are exactly what this renders) and for `nova-dirsvc schema`.
///
/// OIDs live under 2.25.123011123252204243935185339756047193108, the ITU-T X.667 arc of UUID
/// 5c8b14a0-a7e2-4ad5-aa99-e17cce0f5414, minted for this project (no registration needed, no
/// one else's enterprise number used). `.1.n` are attribute types, `.2.n` object classes.
/// schema/README.md says how to move them under an operator's own arc.
package enum NovaSchema {
    package static let baseOID = "2.25.123011123252204243935185339756047193108"

    /// An attribute type definition (RFC 4512 section 4.1.2).
    package struct AttributeType: Sendable {
        package let number: Int
        package let name: String
        package let description: String
        package let equality: String
        package var ordering: String? = nil
        package let substrings: String?
        package let syntax: String
        package let singleValue: Bool

        package var oid: String { "\(NovaSchema.baseOID).1.\(number)" }
        package var definition: String {
            var text = "( \(oid) NAME '\(name)' DESC '\(description)' EQUALITY \(equality)"
            if let ordering { text += " ORDERING \(ordering)" }
            if let substrings { text += " SUBSTR \(substrings)" }
            text += " SYNTAX \(syntax)"
            if singleValue { text += " SINGLE-VALUE" }
            return text + " X-ORIGIN 'nova-dirsvc' )"
        }
    }

    private static let ia5 = "1.3.6.1.4.1.1466.115.121.1.26"
    private static let directoryString = "1.3.6.1.4.1.1466.115.121.1.15"
    private static let generalizedTime = "1.3.6.1.4.1.1466.115.121.1.24"

    package static let attributeTypes: [AttributeType] = [
        .init(
            number: 1, name: "novaInstanceUUID", description: "Nova instance UUID (the key of the entry)",
            equality: "caseIgnoreIA5Match", substrings: "caseIgnoreIA5SubstringsMatch", syntax: ia5, singleValue: true),
        .init(
            number: 2, name: "novaImageUUID", description: "UUID of the Glance image the instance booted from",
            equality: "caseIgnoreIA5Match", substrings: nil, syntax: ia5, singleValue: true),
        .init(
            number: 3, name: "novaProjectName", description: "Name of the project (tenant) that owns the instance",
            equality: "caseIgnoreMatch", substrings: "caseIgnoreSubstringsMatch", syntax: directoryString, singleValue: true),
        .init(
            number: 4, name: "novaUserName", description: "Name of the user who created the instance",
            equality: "caseIgnoreMatch", substrings: "caseIgnoreSubstringsMatch", syntax: directoryString, singleValue: true),
        .init(
            number: 5, name: "novaUserRemoteAddress", description: "IP address the create request came from",
            equality: "caseIgnoreIA5Match", substrings: nil, syntax: ia5, singleValue: true),
        .init(
            number: 6, name: "novaIPAddress", description: "IP address of the instance",
            equality: "caseIgnoreIA5Match", substrings: nil, syntax: ia5, singleValue: false),
        .init(
            number: 7, name: "novaHostname", description: "Host name of the instance",
            equality: "caseIgnoreMatch", substrings: "caseIgnoreSubstringsMatch", syntax: directoryString, singleValue: true),
        .init(
            number: 8, name: "novaProjectID", description: "Keystone ID of the project that owns the instance",
            equality: "caseIgnoreIA5Match", substrings: nil, syntax: ia5, singleValue: true),
        .init(
            number: 9, name: "novaUserID", description: "Keystone ID of the user who created the instance",
            equality: "caseIgnoreIA5Match", substrings: nil, syntax: ia5, singleValue: true),
        .init(
            number: 10, name: "novaLastEventTime", description: "Time by the Nova clock of the last event applied to the instance",
            equality: "generalizedTimeMatch", ordering: "generalizedTimeOrderingMatch", substrings: nil,
            syntax: generalizedTime, singleValue: true),
        .init(
            number: 11, name: "novaDeletedInstanceUUID", description: "UUID of a deleted Nova instance (the key of its tombstone)",
            equality: "caseIgnoreIA5Match", substrings: nil, syntax: ia5, singleValue: true),
    ]

    /// The key of a tombstone: not `novaInstanceUUID`, so that a search for an instance by its
    /// UUID never finds what a deleted one left.
    package static let deletedInstanceUUID = "novaDeletedInstanceUUID"

    /// The attribute that orders an instance's events (`EventTime`).
    package static let lastEventTime = "novaLastEventTime"

    /// The AUXILIARY object class that marks an entry as managed by nova-dirsvc.
    package static let objectClassName = "novaInstance"
    package static var objectClassDefinition: String {
        let may = attributeTypes.dropFirst().map(\.name).filter { $0 != deletedInstanceUUID }.joined(separator: " $ ")
        return "( \(baseOID).2.1 NAME '\(objectClassName)' DESC 'An OpenStack Nova instance' SUP top AUXILIARY"
            + " MUST \(attributeTypes[0].name) MAY ( \(may) ) X-ORIGIN 'nova-dirsvc' )"
    }

    /// The STRUCTURAL object class of what a deleted instance leaves: its UUID and the time of
    /// the delete, so that a late create (older by Nova's clock) is refused as stale.
    /// `novaDeletedInstanceUUID=<uuid>,<base DN>`, beside where the entry was; removed by
    /// reconcile once older than a week.
    package static let tombstoneClassName = "novaInstanceTombstone"
    package static var tombstoneClassDefinition: String {
        "( \(baseOID).2.2 NAME '\(tombstoneClassName)' DESC 'What a deleted Nova instance leaves (its UUID and the time"
            + " of the delete)' SUP top STRUCTURAL MUST ( \(deletedInstanceUUID) $ \(lastEventTime) ) X-ORIGIN 'nova-dirsvc' )"
    }

    private static let header = """
        # nova-dirsvc schema: attribute types, the AUXILIARY object class novaInstance and the
        # STRUCTURAL novaInstanceTombstone.
        # Generated by `nova-dirsvc schema`; do not edit by hand (see schema/README.md).
        # OID arc: \(baseOID) (X.667 UUID arc of 5c8b14a0-a7e2-4ad5-aa99-e17cce0f5414).
        """

    /// The three forms differ only in their opening lines, the attribute names that carry the
    /// definitions, and what goes between and after them.
    private static func render(
        _ comment: String, opening: String, attributeTypesName: String, between: String = "",
        objectClassesName: String, closing: String = ""
    ) -> String {
        var text = header + "\n" + comment + "\n" + opening
        for attribute in attributeTypes { text += "\(attributeTypesName): \(attribute.definition)\n" }
        return text + between + "\(objectClassesName): \(objectClassDefinition)\n"
            + "\(objectClassesName): \(tombstoneClassDefinition)\n" + closing
    }

    /// 389 Directory Server: a `cn=schema` entry. Install it as a file in the instance's schema
    /// folder (`98nova-dirsvc.ldif`), or load it online with ldapmodify (`ldif389dsOnline`).
    package static var ldif389ds: String {
        render(
            "# 389-ds: copy to /etc/dirsrv/slapd-INSTANCE/schema/98nova-dirsvc.ldif and restart.",
            opening: "dn: cn=schema\nobjectClass: top\nobjectClass: ldapSubentry\nobjectClass: subschema\ncn: schema\n",
            attributeTypesName: "attributeTypes", objectClassesName: "objectClasses")
    }

    /// 389 Directory Server, online: an ldapmodify change record on `cn=schema`.
    package static var ldif389dsOnline: String {
        render(
            "# 389-ds online: ldapmodify -H URI -D 'cn=Directory Manager' -y PWFILE -f THIS",
            opening: "dn: cn=schema\nchangetype: modify\nadd: attributeTypes\n", attributeTypesName: "attributeTypes",
            between: "-\nadd: objectClasses\n", objectClassesName: "objectClasses", closing: "-\n")
    }

    /// OpenLDAP: an olcSchemaConfig entry for cn=config
    /// (`ldapadd -Y EXTERNAL -H ldapi:/// -f THIS`). Needs the core, cosine, inetorgperson and
    /// nis (or rfc2307bis) schemas for inetOrgPerson and ieee802Device.
    package static var ldifOpenLDAP: String {
        render(
            "# OpenLDAP cn=config: ldapadd -Y EXTERNAL -H ldapi:/// -f THIS",
            opening: "dn: cn=nova-dirsvc,cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: nova-dirsvc\n",
            attributeTypesName: "olcAttributeTypes", objectClassesName: "olcObjectClasses")
    }
}
