import Foundation
import LDAP
import Testing

@testable import NovaDirsvc

@Suite("entry mapping")
struct EntryMappingTests {
    let mapping = EntryMapping(baseDN: try! DistinguishedName(validating: "ou=Instances,dc=example,dc=com"))
    let record = InstanceRecord(
        instanceUUID: "2cb805cf-debe-43ae-a555-28a4a5d84694", imageUUID: "035c2bc7-f2be-4607-afcf-c3b6237e9fe5",
        macAddresses: ["fa:16:3e:56:50:29"], projectName: "admin", userName: "admin",
        userRemoteAddress: "192.168.122.97")

    @Test func entryForARecord() {
        #expect(mapping.dn(for: record.instanceUUID).string == "cn=2cb805cf-debe-43ae-a555-28a4a5d84694,ou=Instances,dc=example,dc=com")
        let attributes = Dictionary(uniqueKeysWithValues: mapping.attributes(for: record).map { ($0.name, $0.values) })
        #expect(
            attributes == [
                "objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson", "ieee802Device", "novaInstance"],
                "cn": [record.instanceUUID], "sn": [record.instanceUUID], "novaInstanceUUID": [record.instanceUUID],
                "novaImageUUID": ["035c2bc7-f2be-4607-afcf-c3b6237e9fe5"], "macAddress": ["fa:16:3e:56:50:29"],
                "novaProjectName": ["admin"], "novaUserName": ["admin"], "novaUserRemoteAddress": ["192.168.122.97"],
            ])
    }

    @Test func onlyChangedSuppliedAttributesAreReplaced() {
        let entry = Entry(
            dn: mapping.dn(for: record.instanceUUID),
            attributes: mapping.attributes(for: record)
                + [Attribute("novaHostname", ["kept"])])
        #expect(mapping.modifications(from: entry, to: record).isEmpty)
        var changed = record
        changed.projectName = "demo"
        changed.macAddresses = ["fa:16:3e:56:50:29", "fa:16:3e:00:00:01"]
        changed.userName = nil  // not supplied: left alone
        #expect(
            mapping.modifications(from: entry, to: changed) == [
                .replace("macAddress", ["fa:16:3e:56:50:29", "fa:16:3e:00:00:01"]), .replace("novaProjectName", ["demo"]),
            ])
        // Case-insensitive attributes compare without case, names with it.
        let upper = Entry(
            dn: entry.dn, attributes: [Attribute("macAddress", ["FA:16:3E:56:50:29"]), Attribute("novaProjectName", ["Admin"])])
        #expect(
            mapping.modifications(
                from: upper,
                to: InstanceRecord(
                    instanceUUID: record.instanceUUID, macAddresses: ["fa:16:3e:56:50:29"],
                    projectName: "admin")) == [.replace("novaInstanceUUID", [record.instanceUUID]), .replace("novaProjectName", ["admin"])])
        // Keystone IDs are caseIgnoreIA5Match in the schema: a change of case only is no change
        // (this drifted once: the list of such attributes was kept apart from the schema).
        let ids = Entry(
            dn: entry.dn,
            attributes: [
                Attribute("novaInstanceUUID", [record.instanceUUID]),
                Attribute("novaProjectID", ["ABCDEF"]), Attribute("novaUserID", ["Fake"]),
            ])
        #expect(
            mapping.modifications(from: ids, to: InstanceRecord(instanceUUID: record.instanceUUID, projectID: "abcdef", userID: "fake"))
                == [])
        for attribute in NovaSchema.attributeTypes where attribute.equality == "caseIgnoreIA5Match" {
            #expect(EntryMapping.caseInsensitiveAttributes.contains(attribute.name))
        }
    }

    @Test func managedEntries() {
        let entry = Entry(dn: mapping.dn(for: record.instanceUUID), attributes: mapping.attributes(for: record))
        #expect(EntryMapping.isManaged(entry))
        #expect(!EntryMapping.isManaged(Entry(dn: entry.dn, attributes: [Attribute("objectClass", ["top", "person"])])))
    }
}

@Suite("plan printer")
struct PlanPrinterTests {
    @Test func deletionsAndReplicationConflictsInBothFormats() throws {
        let base = try DistinguishedName(validating: "ou=Instances,dc=example,dc=com")
        let mapping = EntryMapping(baseDN: base)
        let uuid = "2cb805cf-debe-43ae-a555-28a4a5d84694"
        var plan = ReconcilePlan()
        plan.changes = [
            .delete(mapping.dn(for: uuid), instanceUUID: uuid),
            .deleteConflict(
                try DistinguishedName(validating: "cn=\(uuid)+nsuniqueid=0ffd9e9b-e95411f1-84fcc7c7-1e4b683a,\(base)"),
                instanceUUID: uuid),
        ]
        var ldif = ""
        PlanPrinter(mapping: mapping) { ldif += $0 }.ldif(plan)
        #expect(ldif.contains("1 to delete, 1 replication conflict entries to remove"))
        #expect(ldif.contains("# a replication conflict entry\ndn: cn=\(uuid)+nsuniqueid="))
        #expect(ldif.components(separatedBy: "changetype: delete").count == 3)
        var json = ""
        PlanPrinter(mapping: mapping) { json += $0 }.json(plan)
        let items = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: String]])
        #expect(items.map { $0["action"] } == ["delete", "delete-replication-conflict"])
        #expect(items.allSatisfy { $0["instance_uuid"] == uuid })
    }
}
