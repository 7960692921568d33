import Foundation
import LDAP
import TestSupport
import Testing

@testable import NovaDirsvc

/// `EventPath.submit(batch:)` (the service's path) against the test 389-ds: the same outcomes
/// as one `submit` after another, in order per instance, with the first adds pipelined.
@Suite(
    "event path batches against 389-ds",
    .enabled(if: TestDirectory.isAvailable, Comment(rawValue: TestDirectory.skipMessage)))
struct EventPathBatchIntegrationTests {
    let container: DistinguishedName
    let configuration: Configuration

    init() throws {
        container = try TestDirectory.makeContainer("batch")
        configuration = try Configuration.forTests(container: container)
    }

    func record(_ project: String = "admin") -> InstanceRecord { .forTests(project: project) }

    func outcomes(_ results: [Result<EventPath.Outcome, any Error>]) -> [String] {
        results.map { result in
            switch result {
            case .success(.applied(let outcome)): return outcome.rawValue
            case .success(.appliedFromSpool): return "fromSpool"
            case .success(.queued): return "queued"
            case .failure(let error as EventNotAppliedError): return "\(error.state)"
            case .failure(let error): return "error: \(error)"
            }
        }
    }

    @Test func aBatchEndsAsTheEventsOneAfterTheOtherWould() throws {
        let path = EventPath(configuration: configuration, warn: { _ in })
        let session = DirectorySession(configuration: configuration)
        defer { session.close() }
        let a = record()
        let b = record()
        let c = record()
        let existing = record()
        _ = try path.submit(.register(existing), through: session, deadline: .now + .seconds(5))
        var renamed = a
        renamed.projectName = "second"
        let foreign = UUID().uuidString.lowercased()
        let admin = try TestDirectory.adminConnection()
        defer { admin.close() }
        try admin.add(
            try DistinguishedName(validating: "cn=\(foreign),\(container.string)"),
            [Attribute("objectClass", ["top", "person"]), Attribute("cn", [foreign]), Attribute("sn", ["x"])])
        let batch: [InstanceEvent] = [
            .register(a), .register(b), .register(renamed),  // a twice: the second after the first
            .unregister(instanceUUID: b.instanceUUID),  // b: added, then deleted
            .register(existing),  // exists already: unchanged
            .register(record()).withUUID(foreign),  // not ours: kept in failed/
            .update(c),  // absent: not created
            .register(c),
        ]
        let results = path.submit(batch: batch.map { EventPath.BatchItem($0) }, through: session, deadline: .now + .seconds(10))
        #expect(outcomes(results) == ["added", "added", "updated", "deleted", "unchanged", "setAside", "absent", "added"])
        let entries = try LDAPSearchTool.search(base: container.string, scope: "one", filter: "(objectClass=novaInstance)")
        let byUUID = Dictionary(uniqueKeysWithValues: entries.map { ($0["novaInstanceUUID"].first ?? "", $0) })
        #expect(Set(byUUID.keys) == [a.instanceUUID, c.instanceUUID, existing.instanceUUID])
        #expect(byUUID[a.instanceUUID]?["novaProjectName"] == ["second"])
    }

    @Test func aDirectoryThatDoesNotAnswerCostsOneBudgetAndQueuesTheBatchInOrder() throws {
        var unreachable = configuration
        unreachable.uris = ["ldap://127.0.0.1:1"]
        let path = EventPath(configuration: unreachable, warn: { _ in })
        let session = DirectorySession(configuration: unreachable)
        let records = (0..<5).map { _ in record() }
        let results = path.submit(
            batch: records.map { EventPath.BatchItem(.register($0)) }, through: session,
            deadline: .now + .seconds(2))
        #expect(outcomes(results) == Array(repeating: "queued", count: 5))
        let queued = try path.spool.pending().map { try path.spool.read($0).instanceUUID }
        #expect(queued == records.map(\.instanceUUID))
    }
}

extension InstanceEvent {
    /// The same event for another instance.
    func withUUID(_ uuid: String) -> InstanceEvent {
        switch self {
        case .register(var record):
            record.instanceUUID = uuid
            return .register(record)
        case .update(var record):
            record.instanceUUID = uuid
            return .update(record)
        case .unregister: return .unregister(instanceUUID: uuid)
        }
    }
}
