import Foundation
import Testing

@testable import NovaDirsvc

/// A bounded random-input test of the event parser: random bytes, mutated real notifications,
/// and random JSON trees built from the real field names. Every input must either decode into
/// a validated event or be refused with an `InputError`; nothing may crash or throw anything else.
/// Deterministic (fixed seeds), a few seconds.
@Suite("event parser under random input")
struct FuzzTests {
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let keys = [
        "instance_uuid", "image_uuid", "mac_address", "project_name", "user_name", "user_remote_address",
        "hostname", "ip_addresses", "event_type", "payload", "nova_object.data", "uuid", "ip_addresses",
        "mac", "address", "oslo.version", "oslo.message", "instance_id", "fixed_ips", "vif_mac",
        "_context_project_name", "_context_remote_address", "tenant_id", "image_meta", "base_image_ref",
    ]
    static let strings = [
        "instance.create.end", "instance.delete.end", "compute.instance.create.end", "2.0",
        "2cb805cf-debe-43ae-a555-28a4a5d84694", "fa:16:3e:56:50:29", "192.168.122.97", "::1", "",
        "*)(cn=*", "a,b=c+d", "\u{0}", "\u{7F}\u{1B}[31m", String(repeating: "x", count: 300), "Lučić",
        "{\"instance_uuid\": 1}", "-1", "\\", "\"",
    ]

    func check(_ data: Data, as action: EventDecoder.Action) {
        do {
            guard let event = try EventDecoder.decode(data, for: action).event else { return }  // ignored
            // whatever decoded is valid: its UUID is canonical
            #expect(event.instanceUUID.count == 36 && event.instanceUUID == event.instanceUUID.lowercased())
            if let record = event.record { #expect((try? record.validated()) == record) }
        } catch is InputError {
            // refused with a field and a reason: fine
        } catch {
            Issue.record("unexpected \(type(of: error)) for \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
    }

    func randomJSON(_ rng: inout SplitMix64, depth: Int) -> Any {
        switch Int.random(in: 0..<(depth > 4 ? 4 : 7), using: &rng) {
        case 0: return Self.strings.randomElement(using: &rng)!
        case 1: return Int.random(in: -5...5, using: &rng)
        case 2: return Bool.random(using: &rng)
        case 3: return NSNull()
        case 4, 5:
            var object: [String: Any] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                object[Self.keys.randomElement(using: &rng)!] = randomJSON(&rng, depth: depth + 1)
            }
            return object
        default:
            return (0..<Int.random(in: 0...3, using: &rng)).map { _ in randomJSON(&rng, depth: depth + 1) }
        }
    }

    @Test func randomBytes() {
        var rng = SplitMix64(state: 1)
        for _ in 0..<3000 {
            let bytes = (0..<Int.random(in: 0...256, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            check(Data(bytes), as: Bool.random(using: &rng) ? .register : .unregister)
        }
    }

    @Test func mutatedNotifications() throws {
        var rng = SplitMix64(state: 2)
        let seeds = try [
            "instance-create-end.json", "instance-create-end.oslo-envelope.json", "instance-delete-end.json",
            "compute-instance-create-end.legacy.json", "record.json",
        ].map { Array(try fixture($0)) }
        for _ in 0..<3000 {
            var bytes = seeds.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))  // truncate
                case 1 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                case 2 where !bytes.isEmpty:
                    bytes.insert(
                        contentsOf: Array("\"\\u0000\",[{}]:".utf8).shuffled(using: &rng).prefix(3),
                        at: Int.random(in: 0..<bytes.count, using: &rng))
                default: if !bytes.isEmpty { bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng)) }
                }
            }
            check(Data(bytes), as: Bool.random(using: &rng) ? .register : .unregister)
        }
    }

    @Test func randomJSONTrees() throws {
        var rng = SplitMix64(state: 3)
        for _ in 0..<3000 {
            var tree = randomJSON(&rng, depth: 0)
            if Int.random(in: 0..<3, using: &rng) == 0 {  // sometimes inside an oslo envelope
                let inner = try JSONSerialization.data(withJSONObject: ["v": tree], options: [])
                tree = ["oslo.version": "2.0", "oslo.message": String(decoding: inner.dropFirst(5).dropLast(), as: UTF8.self)]
            }
            let data = try JSONSerialization.data(withJSONObject: ["x": tree], options: []).dropFirst(5).dropLast()
            check(Data(data), as: Bool.random(using: &rng) ? .register : .unregister)
        }
    }

    @Test func deepNesting() {
        check(Data((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8), as: .register)
        check(Data((String(repeating: "{\"a\":", count: 50_000) + "1" + String(repeating: "}", count: 50_000)).utf8), as: .register)
    }

    /// Valid records in every shape the DICT allows decode to exactly the record they describe
    /// (a round trip: a parser that refused or mangled good input would fail here, where the
    /// tests above only check that bad input is refused).
    @Test func validRecordsRoundTrip() throws {
        var rng = SplitMix64(state: 4514)
        func hex(_ n: Int) -> String { String((0..<n).map { _ in "0123456789abcdef".randomElement(using: &rng)! }) }
        func uuid() -> String { "\(hex(8))-\(hex(4))-\(hex(4))-\(hex(4))-\(hex(12))" }
        func mac() -> String { (0..<6).map { _ in hex(2) }.joined(separator: ":") }
        let names = ["admin", "demo", "Lučić", "datanode ü1", "a,b=c+d;<>\"#", "x"]
        for _ in 0..<500 {
            let expected = InstanceRecord(
                instanceUUID: uuid(), imageUUID: Bool.random(using: &rng) ? uuid() : nil,
                macAddresses: (0..<Int.random(in: 1...3, using: &rng)).map { _ in mac() },
                projectName: names.randomElement(using: &rng)!, userName: names.randomElement(using: &rng)!,
                userRemoteAddress: Bool.random(using: &rng)
                    ? "192.0.2.\(Int.random(in: 1...254, using: &rng))"
                    : "2001:db8::\(String(Int.random(in: 1...0xfff, using: &rng), radix: 16))",
                hostname: Bool.random(using: &rng) ? "host-\(hex(4))" : nil,
                ipAddresses: Bool.random(using: &rng) ? ["10.0.\(Int.random(in: 0...255, using: &rng)).1"] : nil)
            var dict: [String: Any] = [
                "instance_uuid": Bool.random(using: &rng) ? expected.instanceUUID.uppercased() : expected.instanceUUID,
                "image_uuid": expected.imageUUID ?? "", "mac_address": expected.macAddresses!,
                "project_name": expected.projectName!, "user_name": expected.userName!,
                "user_remote_address": expected.userRemoteAddress!,
            ]
            if let hostname = expected.hostname { dict["hostname"] = hostname }
            if let ips = expected.ipAddresses { dict["ip_addresses"] = ips }
            let decoded = try EventDecoder.decode(JSONSerialization.data(withJSONObject: dict), for: .register)
            #expect(decoded.dropped.isEmpty)
            #expect(decoded.event == .register(expected))
        }
    }
}
