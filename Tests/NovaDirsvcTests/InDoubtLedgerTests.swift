import Foundation
import LDAP
import Testing

@testable import NovaDirsvc

/// The ledger of writes a server took without answering (the settling itself runs against two
/// real suppliers: Tests/cli/test_replication.py).
@Suite("writes in doubt")
struct InDoubtLedgerTests {
    /// A new empty folder (the spool's), for the caller to remove.
    static func makeFolder() throws -> String {
        let folder = NSTemporaryDirectory() + "nova-dirsvc-in-doubt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    @Test("kept across processes: the first server that did not answer stays; removal empties it")
    func roundTrip() throws {
        let folder = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let ledger = InDoubtLedger(spoolDirectory: folder)
        #expect(ledger.isEmpty)
        try ledger.update { $0["2cb805cf-debe-43ae-a555-28a4a5d84694"] = .init(server: "ldap://a", since: 1) }
        try ledger.update {
            $0["2cb805cf-debe-43ae-a555-28a4a5d84694"] = $0["2cb805cf-debe-43ae-a555-28a4a5d84694"] ?? .init(server: "ldap://b", since: 2)
        }
        #expect(!ledger.isEmpty)
        #expect(
            InDoubtLedger(spoolDirectory: folder).load() == ["2cb805cf-debe-43ae-a555-28a4a5d84694": .init(server: "ldap://a", since: 1)])
        try ledger.update { $0 = [:] }
        #expect(ledger.isEmpty)
        #expect(ledger.load().isEmpty)
    }

    @Test("the add applied again is kept with the entry it made, and names the keeper of the DN")
    func readdedEntry() throws {
        let folder = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let ledger = InDoubtLedger(spoolDirectory: folder)
        let uuid = "2cb805cf-debe-43ae-a555-28a4a5d84694"
        let item = InDoubtLedger.Item(server: "ldap://a", since: 1, readdedOn: "ldap://b", readdedID: "B0000000-11111111-22222222-33333333")
        try ledger.update { $0[uuid] = item }
        #expect(InDoubtLedger(spoolDirectory: folder).load() == [uuid: item])

        func found(_ id: String?) -> InDoubtResolver.Found {
            var found = InDoubtResolver.Found()
            found.entry = id.map { Entry(dn: try! DistinguishedName(validating: "cn=x"), attributes: [Attribute("nsUniqueId", [$0])]) }
            return found
        }
        // the entry at the DN is the one b's add made (ids compare without regard to case)
        #expect(InDoubtResolver.keeper(of: found("b0000000-11111111-22222222-33333333"), item) == "ldap://b")
        // another one: a's late add had the earlier CSN and kept the DN
        #expect(InDoubtResolver.keeper(of: found("a0000000-11111111-22222222-33333333"), item) == "ldap://a")
        #expect(InDoubtResolver.keeper(of: found(nil), item) == "ldap://a")
        // nothing read back (no add applied again): the server that did not answer
        #expect(InDoubtResolver.keeper(of: found("b0000000-11111111-22222222-33333333"), .init(server: "ldap://a", since: 1)) == "ldap://a")
    }

    @Test("a damaged ledger reads as empty (a hint: reconcile still finds every conflict)")
    func damaged() throws {
        let folder = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Data("{\"x\": [".utf8).write(to: URL(fileURLWithPath: folder + "/.in-doubt"))
        #expect(InDoubtLedger(spoolDirectory: folder).load().isEmpty)
    }
}
