import Foundation
import LDAP
import TestSupport
import Testing

@testable import NovaDirsvc

/// The event path, the registrar and the reconciler in-process against the test 389-ds (as the
/// least-privilege service account), each result checked with ldapsearch.
@Suite(
    "event path, registrar and reconciler against 389-ds",
    .enabled(if: TestDirectory.isAvailable, Comment(rawValue: TestDirectory.skipMessage)))
struct EventPathIntegrationTests {
    let container: DistinguishedName
    let spoolFolder: String
    let configuration: Configuration

    init() throws {
        container = try TestDirectory.makeContainer("path")
        configuration = try Configuration.forTests(container: container)
        spoolFolder = configuration.spoolDirectory
    }

    func record(_ project: String = "admin") -> InstanceRecord { .forTests(project: project) }

    func entries() throws -> [String: LDAPSearchTool.Entry] {
        Dictionary(
            uniqueKeysWithValues: try LDAPSearchTool.search(base: container.string, scope: "one")
                .map { ($0["novaInstanceUUID"].first ?? "", $0) })
    }

    func submit(_ event: InstanceEvent, _ path: EventPath, _ session: DirectorySession) throws -> EventPath.Outcome {
        try path.submit(event, through: session, deadline: .now + .seconds(5))
    }

    @Test func registerUpdateUnregisterThroughOneHeldSession() throws {
        let path = EventPath(configuration: configuration, warn: { _ in })
        let session = DirectorySession(configuration: configuration)  // held, as the service will
        defer { session.close() }
        let r = record()
        guard case .applied(.added) = try submit(.register(r), path, session) else {
            Issue.record("not added")
            return
        }
        guard case .applied(.unchanged) = try submit(.register(r), path, session) else {
            Issue.record("not unchanged")
            return
        }
        var changed = r
        changed.projectName = "demo"
        guard case .applied(.updated) = try submit(.register(changed), path, session) else {
            Issue.record("not updated")
            return
        }
        #expect(try entries()[r.instanceUUID]?["novaProjectName"] == ["demo"])
        guard case .applied(.deleted) = try submit(.unregister(instanceUUID: r.instanceUUID), path, session) else {
            Issue.record("not deleted")
            return
        }
        guard case .applied(.absent) = try submit(.unregister(instanceUUID: r.instanceUUID), path, session) else {
            Issue.record("not absent")
            return
        }
        #expect(try entries().isEmpty)
    }

    @Test func unavailableDirectoryQueuesAndFlushApplies() throws {
        var down = configuration
        down.uris = ["ldap://127.0.0.1:\(try FreePort.closed())"]
        let queued = [record(), record()]
        for r in queued {
            let outcome = try submit(.register(r), EventPath(configuration: down, warn: { _ in }), DirectorySession(configuration: down))
            guard case .queued = outcome else {
                Issue.record("not queued: \(outcome)")
                return
            }
        }
        #expect(try Spool(directory: spoolFolder).pending().count == 2)
        let summary = try EventPath(configuration: configuration, warn: { _ in })
            .flush(through: DirectorySession(configuration: configuration), deadline: .now + .seconds(30))
        #expect(summary.applied == 2 && summary.remaining == 0 && summary.setAside == 0)
        #expect(Set(try entries().keys) == Set(queued.map(\.instanceUUID)))
    }

    @Test func aForeignEntryIsRefusedAndKeptWithItsReason() throws {
        let uuid = UUID().uuidString.lowercased()
        let admin = try TestDirectory.adminConnection()
        defer { admin.close() }
        try admin.add(
            container.child("cn", uuid),
            [
                Attribute("objectClass", ["top", "person"]),
                Attribute("cn", [uuid]), Attribute("sn", ["not ours"]),
            ])
        let path = EventPath(configuration: configuration, warn: { _ in })
        #expect { try submit(.unregister(instanceUUID: uuid), path, DirectorySession(configuration: configuration)) } throws: {
            ($0 as? EventNotAppliedError)?.error is ForeignEntryError
        }
        let failed = POSIX.names(in: spoolFolder + "/failed").filter { $0.hasSuffix(".reason") }
        #expect(failed.count == 1)
        #expect(try LDAPSearchTool.search(base: container.child("cn", uuid).string, scope: "base").first?["sn"] == ["not ours"])
    }

    @Test func reconcilerPlansAndAppliesAndSkipsAMismatchedEntry() throws {
        let connection = try Directory.connect(configuration, deadline: .now + .seconds(5))
        defer { connection.close() }
        let registrar = Registrar(connection: connection, mapping: EntryMapping(baseDN: container))
        let keep = record()
        let change = record()
        let stale = record()
        for r in [keep, change, stale] { _ = try registrar.register(r) }
        // an entry whose novaInstanceUUID does not match its DN: never touched by reconcile
        let admin = try TestDirectory.adminConnection()
        defer { admin.close() }
        let odd = UUID().uuidString.lowercased()
        let oddRecord = record()
        try admin.add(
            container.child("cn", odd),
            EntryMapping(baseDN: container).attributes(for: oddRecord).map {
                $0.name == "cn" || $0.name == "sn" ? Attribute($0.name, [odd]) : $0
            })
        var changed = change
        changed.userName = "bob"
        let added = record()
        let reconciler = Reconciler(connection: connection, mapping: EntryMapping(baseDN: container))
        var limits = Reconciler.Limits()
        limits.grace = 0
        limits.allowMassDelete = true
        let plan = try reconciler.plan(live: [keep, changed, added], limits: limits, now: Date().addingTimeInterval(5))
        #expect(plan.additions == 1 && plan.modifications == 1 && plan.deletions == 1 && plan.unchanged == 1)
        #expect(plan.skipped.map(\.string) == [container.child("cn", odd).string])
        let summary = try reconciler.apply(plan, progress: { _, _ in })
        #expect(summary.failures.isEmpty)
        let now = try entries()
        #expect(Set(now.keys) == Set([keep, changed, added, oddRecord].map(\.instanceUUID)))
        #expect(now[changed.instanceUUID]?["novaUserName"] == ["bob"])
        #expect(now[stale.instanceUUID] == nil)
        #expect(try LDAPSearchTool.search(base: container.child("cn", odd).string, scope: "base").count == 1)
    }

    /// Reconciler.Planner: the list in pieces against the directory's index; an entry whose
    /// values differ only in their order is unchanged, and so is one whose digest differs but
    /// whose values Swift finds equal (composed and decomposed é: read again, not rewritten); an instance
    /// listed twice across pieces is refused; changes an event made moot meanwhile are
    /// `overtaken`, not failures.
    @Test func plannerTakesTheListInPiecesAndLeavesWhatEventsChangedMeanwhile() throws {
        let connection = try Directory.connect(configuration, deadline: .now + .seconds(5))
        defer { connection.close() }
        let mapping = EntryMapping(baseDN: container)
        let registrar = Registrar(connection: connection, mapping: mapping)
        var same = record()
        var reordered = record()
        var changed = record()
        var composed = record("café")
        let deletedInNova = record()
        let cellDown = record()
        let unlisted = record()
        reordered.ipAddresses = ["10.0.0.1", "10.0.0.2"]
        same.ipAddresses = ["10.0.0.3"]
        for r in [same, reordered, changed, composed, deletedInNova, cellDown, unlisted] { _ = try registrar.register(r) }
        reordered.ipAddresses = ["10.0.0.2", "10.0.0.1"]
        composed.projectName = "cafe\u{301}"
        changed.projectName = "demo"
        let added = record()
        var limits = Reconciler.Limits()
        limits.grace = 0
        limits.allowMassDelete = true
        let reconciler = Reconciler(connection: connection, mapping: mapping)
        var planner = try Reconciler.Planner(reconciler, limits: limits, now: Date().addingTimeInterval(5))
        try planner.add(.init(records: [same, changed], deleted: [deletedInNova.instanceUUID]))
        try planner.add(.init(records: [reordered, composed, added], unreachable: [cellDown.instanceUUID]))
        #expect(throws: InputError.self) { try planner.add(.init(records: [same])) }
        let plan = try planner.finish()
        #expect((planner.live, planner.deleted, planner.unreachable) == (5, 1, 1))
        #expect(plan.unchanged == 3 && plan.modifications == 1 && plan.deletions == 2 && plan.additions == 1)
        #expect(plan.leftAlone.map(\.string) == [mapping.dn(for: cellDown.instanceUUID).string])
        // events overtake the plan: the changed instance is deleted, the added one created
        _ = try registrar.unregister(changed.instanceUUID)
        _ = try registrar.register(added)
        let summary = try reconciler.apply(plan, progress: { _, _ in })
        #expect(summary.failures.isEmpty && summary.overtaken == 2 && summary.deleted == 2, "\(summary.description) \(summary.failures)")
        let now = try entries()
        #expect(Set(now.keys) == Set([same, reordered, composed, cellDown, added].map(\.instanceUUID)))
        #expect(now[composed.instanceUUID]?["novaProjectName"] == ["café"])
    }
}

@Test("the directory is there when scripts/test.sh says it must be")
func directoryIsThereWhenRequired() {
    if TestDirectory.isRequired { #expect(TestDirectory.isAvailable, "NOVA_DIRSVC_TEST_REQUIRE_ALL is set, but no test directory") }
}
