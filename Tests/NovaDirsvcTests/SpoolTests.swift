import Foundation
@testable import NovaDirsvc
import Testing

/// A bounded random-input test of the event parser: random bytes, mutated real notifications,
/// and random JSON trees built from the real field names. Every input must either decode into
/// a validated event or be refused with an `InputError`; nothing may crash or throw anything else.
/// Deterministic (fixed seeds), a few seconds.
@Suite("spool")
struct SpoolTests {
    func temporarySpool() -> Spool {
        Spool(directory: NSTemporaryDirectory() + "nova-dirsvc-spool-\(UUID().uuidString)")
    }

    @Test func enqueueReadInOrderAndQuarantine() throws {
        let spool = temporarySpool()
        defer { try? FileManager.default.removeItem(atPath: spool.directory) }
        let record = InstanceRecord(instanceUUID: "2cb805cf-debe-43ae-a555-28a4a5d84694", macAddresses: ["fa:16:3e:56:50:29"],
                                    projectName: "a \"quoted\" name")
        let first = try spool.enqueue(.register(record))
        let second = try spool.enqueue(.unregister(instanceUUID: record.instanceUUID))
        #expect(try spool.pending() == [first, second])
        #expect(first.sequence < second.sequence)
        #expect(try spool.read(first) == .register(record))
        #expect(try spool.read(second) == .unregister(instanceUUID: record.instanceUUID))
        // a file cut short is refused as such
        let data = try Data(contentsOf: URL(fileURLWithPath: second.path))
        try data.prefix(data.count - 5).write(to: URL(fileURLWithPath: second.path))
        #expect { try spool.read(second) } throws: { "\($0)".contains("cut short or damaged") }
        try spool.quarantine(second, reason: "test")
        #expect(try spool.pending() == [first])
        #expect(FileManager.default.fileExists(atPath: spool.directory + "/failed/" + (second.path as NSString).lastPathComponent))
        // stray temporary files are never events
        _ = FileManager.default.createFile(atPath: spool.directory + "/.tmp-1-2", contents: data)
        #expect(try spool.pending() == [first])
    }

    @Test("a name with the largest sequence does not use the numbers up; names taken in failed/ are passed over")
    func sequenceNumbersSurviveForeignAndTakenNames() throws {
        let spool = temporarySpool()
        defer { try? FileManager.default.removeItem(atPath: spool.directory) }
        let uuid = "2cb805cf-debe-43ae-a555-28a4a5d84694"
        let first = try spool.enqueue(.unregister(instanceUUID: uuid))
        // a file someone named with the largest sequence there is
        let largest = spool.directory + "/" + Spool.name(Spool.maxSequence)
        #expect(FileManager.default.createFile(atPath: largest, contents: Data("{}\n".utf8)))
        let second = try spool.enqueue(.unregister(instanceUUID: uuid))
        #expect(second.sequence == first.sequence + 1)
        // the next numbers already taken in failed/ (failed/ is not read for every event)
        try FileManager.default.createDirectory(atPath: spool.failedDirectory, withIntermediateDirectories: true)
        for next in (second.sequence + 1)...(second.sequence + 3) {
            #expect(FileManager.default.createFile(atPath: spool.failedDirectory + "/" + Spool.name(next), contents: Data()))
        }
        let kept = try spool.setAside(message: Array("x".utf8), reason: "test")
        #expect(kept.hasSuffix(Spool.name(second.sequence + 4)))
        let third = try spool.enqueue(.unregister(instanceUUID: uuid))
        #expect(third.sequence == second.sequence + 5)
    }

    @Test func collapse() {
        let a = InstanceRecord(instanceUUID: "2cb805cf-debe-43ae-a555-28a4a5d84694", projectName: "one", userName: "u")
        let b = InstanceRecord(instanceUUID: a.instanceUUID, projectName: "two", hostname: "h")
        let gone = InstanceEvent.unregister(instanceUUID: a.instanceUUID)
        typealias Session = EventPath
        #expect(Session.collapse([.register(a), gone]) == [gone])
        #expect(Session.collapse([.register(a), .register(b)])
                == [.register(InstanceRecord(instanceUUID: a.instanceUUID, projectName: "two", userName: "u", hostname: "h"))])
        #expect(Session.collapse([.register(a), gone, .register(b)]) == [gone, .register(b)])
        #expect(Session.collapse([gone, gone]) == [gone])
    }
}
