import Foundation
import LDAP
import TestSupport
import Testing

/// Against the real 389 Directory Server that scripts/directory.sh starts; every write is
/// checked with OpenLDAP's ldapsearch, not with our own search.
@Suite("LDAP against 389-ds", .enabled(if: TestDirectory.isAvailable, Comment(rawValue: TestDirectory.skipMessage)))
struct DirectoryIntegrationTests {
    static func instanceAttributes(_ uuid: String, project: String = "admin") -> [Attribute] {
        [
            Attribute("objectClass", ["top", "person", "organizationalPerson", "inetOrgPerson", "ieee802Device", "novaInstance"]),
            Attribute("cn", [uuid]), Attribute("sn", [uuid]),
            Attribute("novaInstanceUUID", [uuid]),
            Attribute("novaImageUUID", ["035c2bc7-f2be-4607-afcf-c3b6237e9fe5"]),
            Attribute("macAddress", ["fa:16:3e:56:50:29"]),
            Attribute("novaProjectName", [project]), Attribute("novaUserName", ["admin"]),
            Attribute("novaUserRemoteAddress", ["192.168.122.97"]),
        ]
    }

    @Test func simpleBindAsServiceAccount() throws {
        let connection = try TestDirectory.serviceConnection()
        #expect(try connection.whoAmI().normalizedAuthzID == "dn:" + TestDirectory.serviceDN.lowercased())
    }

    @Test func saslExternalOverLDAPI() throws {
        let connection = try TestDirectory.adminConnection()
        #expect(try connection.whoAmI().normalizedAuthzID == "dn:cn=directory manager")
    }

    @Test func addModifySearchDelete() throws {
        let container = try TestDirectory.makeContainer("crud")
        let connection = try TestDirectory.serviceConnection()
        let uuid = "2cb805cf-debe-43ae-a555-28a4a5d84694"
        let dn = container.child("cn", uuid)
        try connection.add(dn, Self.instanceAttributes(uuid))

        // exactly what was written: every attribute and value, nothing more
        let written = Dictionary(uniqueKeysWithValues: Self.instanceAttributes(uuid).map { ($0.name.lowercased(), Set($0.values)) })
        var seen = try LDAPSearchTool.search(base: dn.string, scope: "base")
        #expect(seen.count == 1)
        #expect(seen.first?.dn.lowercased() == dn.string.lowercased())
        #expect(seen.first?.attributes.mapValues(Set.init) == written)

        try connection.modify(
            dn,
            [
                .replace("novaProjectName", ["demo"]), .add("macAddress", ["fa:16:3e:00:00:01"]),
                .delete("novaUserRemoteAddress"),
            ])
        seen = try LDAPSearchTool.search(base: dn.string, scope: "base")
        var modified = written
        modified["novaprojectname"] = ["demo"]
        modified["macaddress"] = ["fa:16:3e:56:50:29", "fa:16:3e:00:00:01"]
        modified["novauserremoteaddress"] = nil
        #expect(seen.first?.attributes.mapValues(Set.init) == modified)

        let found = try connection.search(
            base: container,
            filter: .and([
                .equality("objectClass", "novaInstance"),
                .equality("novaInstanceUUID", uuid),
            ]))
        #expect(found.map(\.dn.string.localizedLowercase) == [dn.string.lowercased()])
        #expect(found.first?["novaprojectname"] == ["demo"])

        try connection.delete(dn)
        #expect(try LDAPSearchTool.count(base: container.string, filter: "(objectClass=novaInstance)") == 0)
        #expect(try connection.read(dn) == nil)
    }

    @Test func hostileValuesRoundTripAsOneEntry() throws {
        let container = try TestDirectory.makeContainer("hostile")
        let connection = try TestDirectory.serviceConnection()
        let values = ["x,ou=Services,dc=example,dc=com", "a+uid=admin", "#23", " both ", "q\"uote\\", "*)(cn=*", "Lučić"]
        for value in values {
            var attributes = Self.instanceAttributes(UUID().uuidString.lowercased())
            attributes[1] = Attribute("cn", [value])
            try connection.add(container.child("cn", value), attributes)
        }
        let seen = try LDAPSearchTool.search(base: container.string, scope: "one", attributes: ["cn"])
        #expect(Set(seen.flatMap { $0["cn"] }) == Set(values))
        // Each value finds exactly its own entry through an escaped filter.
        for value in values {
            let found = try connection.search(base: container, filter: .equality("cn", value))
            #expect(found.count == 1)
            #expect(found.first?["cn"] == [value])
        }
        // The wildcard-looking value matched literally, not as a wildcard.
        #expect(try connection.search(base: container, filter: .equality("cn", "*")).isEmpty)
    }

    @Test("5,000 entries page through a 2,000 size limit as the service account")
    func pagedSearchBeyondSizeLimit() throws {
        let container = try TestDirectory.makeContainer("paged")
        let connection = try TestDirectory.serviceConnection(timeout: .seconds(60))
        let uuids = (0..<5000).map { _ in UUID().uuidString.lowercased() }
        var failures = 0
        try connection.perform(uuids.lazy.map { .add(container.child("cn", $0), Self.instanceAttributes($0)) }) { _, error in
            if error != nil { failures += 1 }
        }
        #expect(failures == 0)
        // The server's size limit is left at 389-ds's default, and the account is not root.
        let config = try LDAPSearchTool.search(base: "cn=config", scope: "base", attributes: ["nsslapd-sizelimit"])
        #expect(config.first?["nsslapd-sizelimit"] == ["2000"])
        #expect(TestDirectory.serviceDN.lowercased() != TestDirectory.adminDN.lowercased())
        var seen = Set<String>()
        try connection.search(
            base: container, filter: .equality("objectClass", "novaInstance"),
            attributes: ["novaInstanceUUID"], pageSize: 500
        ) { entry in
            seen.insert(entry["novaInstanceUUID"].first ?? "")
        }
        #expect(seen == Set(uuids))
    }

    @Test("1,000 asynchronous adds on one connection")
    func pipelinedAdds() throws {
        let container = try TestDirectory.makeContainer("async")
        let connection = try TestDirectory.serviceConnection(timeout: .seconds(60))
        let uuids = (0..<1000).map { _ in UUID().uuidString.lowercased() }
        var completed = Set<Int>()
        try connection.perform(uuids.map { .add(container.child("cn", $0), Self.instanceAttributes($0)) }, window: 64) { index, error in
            #expect(error == nil)
            completed.insert(index)
        }
        #expect(completed == Set(0..<1000))
        #expect(try LDAPSearchTool.count(base: container.string, filter: "(objectClass=novaInstance)") == 1000)
    }

    @Test("An add reads back the nsUniqueId the server assigned (post-read control), only where asked")
    func addReadsBackWhatTheServerAssigned() throws {
        let container = try TestDirectory.makeContainer("postread")
        let connection = try TestDirectory.serviceConnection()
        let first = UUID().uuidString.lowercased()
        let written = try #require(
            try connection.add(container.child("cn", first), Self.instanceAttributes(first), readingBack: ["nsUniqueId", "cn"]))
        let seen = try LDAPSearchTool.search(base: container.child("cn", first).string, scope: "base", attributes: ["nsUniqueId"])
        #expect(written.dn.string.lowercased() == container.child("cn", first).string.lowercased())
        #expect(written["nsUniqueId"] == seen.first?["nsUniqueId"])
        #expect(written["nsUniqueId"].first?.isEmpty == false)
        #expect(written["cn"] == [first])

        // in a pipelined batch: each asked-for add gets its own entry, the others none
        let uuids = (0..<6).map { _ in UUID().uuidString.lowercased() }
        var readBack: [Int: Entry?] = [:]
        try connection.perform(
            uuids.map { .add(container.child("cn", $0), Self.instanceAttributes($0)) }, window: 4,
            readingBack: { $0.isMultiple(of: 2) ? ["nsUniqueId"] : nil }
        ) { index, error, entry in
            #expect(error == nil)
            readBack[index] = entry
        }
        #expect(readBack.count == 6)
        for (index, uuid) in uuids.enumerated() {
            let id = try LDAPSearchTool.search(base: container.child("cn", uuid).string, scope: "base", attributes: ["nsUniqueId"])
                .first?["nsUniqueId"]
            #expect((readBack[index] ?? nil)?["nsUniqueId"] == (index.isMultiple(of: 2) ? id : nil))
        }
    }

    @Test func oneRefusedOperationDoesNotStopTheOthers() throws {
        let container = try TestDirectory.makeContainer("partial")
        let connection = try TestDirectory.serviceConnection()
        let a = UUID().uuidString.lowercased()
        let b = UUID().uuidString.lowercased()
        var results: [Int: LDAPResultCode] = [:]
        try connection.perform([
            .add(container.child("cn", a), Self.instanceAttributes(a)),
            .add(container.child("cn", a), Self.instanceAttributes(a)),
            .delete(container.child("cn", "absent")),  // 389-ds: 50, not 32, to an account that may not see it
            .add(container.child("cn", b), Self.instanceAttributes(b)),
        ]) { index, error in
            results[index] = error?.code ?? .success
        }
        #expect(results == [0: .success, 1: .entryAlreadyExists, 2: .insufficientAccessRights, 3: .success])
    }

    @Test("operations on one entry apply in the order given, even with many outstanding")
    func perEntryOrder() throws {
        let container = try TestDirectory.makeContainer("order")
        let connection = try TestDirectory.serviceConnection()
        let uuids = (0..<50).map { _ in UUID().uuidString.lowercased() }
        var operations: [WriteOperation] = []
        for uuid in uuids {  // interleaved so that each entry's four operations share windows
            operations.append(.add(container.child("cn", uuid), Self.instanceAttributes(uuid)))
        }
        for uuid in uuids { operations.append(.modify(container.child("cn", uuid), [.replace("novaProjectName", ["second"])])) }
        for uuid in uuids { operations.append(.delete(container.child("cn", uuid))) }
        for uuid in uuids { operations.append(.add(container.child("cn", uuid), Self.instanceAttributes(uuid, project: "final"))) }
        var failures: [String] = []
        try connection.perform(operations, window: 128) { index, error in
            if let error { failures.append("\(index): \(error)") }
        }
        #expect(failures.isEmpty)
        let seen = try LDAPSearchTool.search(base: container.string, scope: "one", attributes: ["novaProjectName"])
        #expect(seen.count == 50 && seen.allSatisfy { $0["novaProjectName"] == ["final"] })
    }

    // MARK: error paths

    @Test func badCredentials() throws {
        #expect {
            _ = try LDAPConnection.connect(
                LDAPConnection.Configuration(uris: [TestDirectory.uri]),
                credentials: .simple(dn: TestDirectory.serviceDN, password: Password("wrong-password")))
        } throws: { error in
            let error = error as! LDAPError
            return error.code == .invalidCredentials && !error.description.contains("wrong-password")
        }
    }

    @Test func noSuchObject() throws {
        // As the administrator: 389-ds tells an unprivileged account insufficientAccessRights
        // instead, so as not to disclose what exists.
        let connection = try TestDirectory.adminConnection()
        let missing = TestDirectory.baseDN.child("ou", "missing").child("cn", "nothing")
        #expect {
            try connection.modify(missing, [.replace("novaProjectName", ["x"])])
        } throws: { error in
            let error = error as! LDAPError
            return error.code == .noSuchObject && error.operation == "modify" && error.dn == missing.string
                && error.matchedDN?.lowercased() == TestDirectory.baseDN.string.lowercased()
        }
        do {
            try connection.delete(missing)
            Issue.record("delete of a missing entry succeeded")
        } catch LDAPResultCode.noSuchObject {}
    }

    @Test func alreadyExists() throws {
        let container = try TestDirectory.makeContainer("exists")
        let connection = try TestDirectory.serviceConnection()
        let uuid = UUID().uuidString.lowercased()
        try connection.add(container.child("cn", uuid), Self.instanceAttributes(uuid))
        #expect(
            throws: LDAPError(
                code: .entryAlreadyExists, operation: "add", dn: container.child("cn", uuid).string,
                diagnosticMessage: nil)
        ) {
            try connection.add(container.child("cn", uuid), Self.instanceAttributes(uuid))
        }
    }

    @Test func schemaIsEnforced() throws {
        let container = try TestDirectory.makeContainer("schema")
        let admin = try TestDirectory.adminConnection()
        // The auxiliary class's attribute without the class: refused.
        #expect {
            try admin.add(
                container.child("cn", "plain"),
                [
                    Attribute("objectClass", ["top", "person"]), Attribute("cn", ["plain"]),
                    Attribute("sn", ["plain"]), Attribute("novaInstanceUUID", ["x"]),
                ])
        } throws: { ($0 as? LDAPError)?.code == .objectClassViolation }
        // A second value of the single-valued key: refused.
        var attributes = Self.instanceAttributes("two")
        attributes[3] = Attribute("novaInstanceUUID", ["one", "two"])
        #expect {
            try admin.add(container.child("cn", "two"), attributes)
        } throws: { ($0 as? LDAPError)?.code == .objectClassViolation }
    }

    @Test func serverUnreachable() throws {
        // A port nothing listens on: refused at once.
        let port = try FreePort.closed()
        let start = ContinuousClock.now
        #expect {
            _ = try LDAPConnection.connect(
                LDAPConnection.Configuration(
                    uris: ["ldap://127.0.0.1:\(port)"], networkTimeout: .seconds(2), operationTimeout: .seconds(2)),
                credentials: .simple(dn: "cn=x", password: Password("p")))
        } throws: { ($0 as? LDAPError)?.code == .serverDown }
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func silentServerTimesOut() throws {
        // A socket that accepts connections (the kernel completes the handshake) and never answers.
        let listener = try SilentListener()
        defer { listener.close() }
        let start = ContinuousClock.now
        #expect {
            _ = try LDAPConnection.connect(
                LDAPConnection.Configuration(
                    uris: ["ldap://127.0.0.1:\(listener.port)"],
                    networkTimeout: .seconds(1), operationTimeout: .seconds(1)),
                credentials: .simple(dn: "cn=x", password: Password("p")))
        } throws: { error in
            let code = (error as? LDAPError)?.code
            return code == .timeout || code == .serverDown
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(3), "took \(elapsed)")
    }
}

extension String {
    /// 389-ds answers "dn: uid=..." (with a space) to Who am I?; compare without it.
    var normalizedAuthzID: String { lowercased().replacingOccurrences(of: "dn: ", with: "dn:") }
}

@Test("the directory is there when scripts/test.sh says it must be")
func directoryIsThereWhenRequired() {
    if TestDirectory.isRequired { #expect(TestDirectory.isAvailable, "NOVA_DIRSVC_TEST_REQUIRE_ALL is set, but no test directory") }
}
