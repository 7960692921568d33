import Foundation
import Testing

@testable import NovaDirsvc

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
        let record = InstanceRecord(
            instanceUUID: "2cb805cf-debe-43ae-a555-28a4a5d84694", macAddresses: ["fa:16:3e:56:50:29"],
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

    @Test func spooledEventsKeepTheirTime() throws {
        let spool = temporarySpool()
        defer { try? FileManager.default.removeItem(atPath: spool.directory) }
        let time = try #require(EventTime(oslo: "2026-12-01 09:41:39.666844"))
        let item = try spool.enqueue(.unregister(instanceUUID: "2cb805cf-debe-43ae-a555-28a4a5d84694"), time: time)
        let plain = try spool.enqueue(.unregister(instanceUUID: "2cb805cf-debe-43ae-a555-28a4a5d84694"))
        #expect(try spool.readTimed(item).time == time && spool.readTimed(plain).time == nil)
    }

    @Test func collapse() {
        let a = InstanceRecord(instanceUUID: "2cb805cf-debe-43ae-a555-28a4a5d84694", projectName: "one", userName: "u")
        let b = InstanceRecord(instanceUUID: a.instanceUUID, projectName: "two", hostname: "h")
        let gone = InstanceEvent.unregister(instanceUUID: a.instanceUUID)
        // without times, as the CLI's events are
        func collapse(_ events: [InstanceEvent]) -> [InstanceEvent] { EventPath.collapse(events.map { ($0, nil) }).map(\.0) }
        #expect(collapse([.register(a), gone]) == [gone])
        #expect(
            collapse([.register(a), .register(b)])
                == [.register(InstanceRecord(instanceUUID: a.instanceUUID, projectName: "two", userName: "u", hostname: "h"))])
        #expect(collapse([.register(a), gone, .register(b)]) == [gone, .register(b)])
        #expect(collapse([gone, gone]) == [gone])
        // with Nova's times: each result keeps the newest time of what it stands for
        let t = (1...4).map { EventTime(microseconds: Int64($0) * 1_000_000) }
        let timed = EventPath.collapse([(.register(a), t[0]), (gone, t[1]), (.update(b), t[3]), (.register(b), t[2])])
        #expect(timed.map(\.0) == [gone, .register(b)] && timed.map(\.1) == [t[1], t[3]])
    }
}
