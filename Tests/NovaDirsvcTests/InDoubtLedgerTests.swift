import Foundation
import Testing

@testable import NovaDirsvc

/// The ledger of writes a server took without answering (the settling itself runs against two
/// real suppliers: Tests/cli/test_replication.py).
@Suite("writes in doubt")
struct InDoubtLedgerTests {
    @Test("kept across processes: the first server that did not answer stays; removal empties it")
    func roundTrip() throws {
        let folder = NSTemporaryDirectory() + "nova-dirsvc-in-doubt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
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

    @Test("a damaged ledger reads as empty (a hint: reconcile still finds every conflict)")
    func damaged() throws {
        let folder = NSTemporaryDirectory() + "nova-dirsvc-in-doubt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Data("{\"x\": [".utf8).write(to: URL(fileURLWithPath: folder + "/.in-doubt"))
        #expect(InDoubtLedger(spoolDirectory: folder).load().isEmpty)
    }
}
