import Foundation
import NovaDirsvc
import Testing

func fixture(_ name: String) throws -> Data {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/nova/\(name)")
    return try Data(contentsOf: url)
}

func json(_ object: Any) -> Data { try! JSONSerialization.data(withJSONObject: object) }

nonisolated(unsafe) let exampleRecord: [String: Any] = [
    "image_uuid": "035c2bc7-f2be-4607-afcf-c3b6237e9fe5", "instance_uuid": "2cb805cf-debe-43ae-a555-28a4a5d84694",
    "mac_address": "fa:16:3e:56:50:29", "project_name": "admin", "user_name": "admin",
    "user_remote_address": "192.168.122.97",
]

@Suite("event decoding")
struct EventDecoderTests {
    @Test func recordForm() throws {
        let event = try EventDecoder.decode(fixture("record.json"), for: .register).event
        #expect(
            event
                == .register(
                    InstanceRecord(
                        instanceUUID: "2cb805cf-debe-43ae-a555-28a4a5d84694", imageUUID: "035c2bc7-f2be-4607-afcf-c3b6237e9fe5",
                        macAddresses: ["fa:16:3e:56:50:29"], projectName: "admin", userName: "admin", userRemoteAddress: "192.168.122.97")))
        #expect(
            try EventDecoder.decode(fixture("record.json"), for: .unregister).event
                == .unregister(instanceUUID: "2cb805cf-debe-43ae-a555-28a4a5d84694"))
    }

    @Test func versionedNotification() throws {
        let expected = InstanceEvent.register(
            InstanceRecord(
                instanceUUID: "178b0921-8f85-4257-88b6-2e743b5a975c", imageUUID: "155d900f-4e14-4e4c-a73d-069cbf4541e6",
                macAddresses: ["fa:16:3e:4c:2c:30"], hostname: "some-server", ipAddresses: ["192.168.1.3"],
                projectID: "6f70656e737461636b20342065766572", userID: "fake"))
        #expect(try EventDecoder.decode(fixture("instance-create-end.json"), for: .register).event == expected)
        #expect(try EventDecoder.decode(fixture("instance-create-end.oslo-envelope.json"), for: .register).event == expected)
        #expect(
            try EventDecoder.decode(fixture("instance-delete-end.json"), for: .unregister).event
                == .unregister(instanceUUID: "178b0921-8f85-4257-88b6-2e743b5a975c"))
    }

    @Test func legacyNotification() throws {
        let event = try EventDecoder.decode(fixture("compute-instance-create-end.legacy.json"), for: .register).event
        #expect(
            event
                == .register(
                    InstanceRecord(
                        instanceUUID: "4f0c1a3e-93a5-4b7c-b5a1-6c3f3e0d2a11", imageUUID: "8c0f3e3b-6f4e-4d55-9d0c-2a1a1e9b7f10",
                        macAddresses: ["fa:16:3e:a0:5c:40"], projectName: "demo", userName: "alice", userRemoteAddress: "192.168.122.97",
                        hostname: "web-1", ipAddresses: ["10.0.0.11", "fd00::11"],
                        projectID: "ef3f81058a934157b42454e3fc63c213", userID: "609544a5d1de4023b44bb71d624281ab")))
        #expect(
            try EventDecoder.decode(fixture("compute-instance-delete-end.legacy.json"), for: .unregister).event
                == .unregister(instanceUUID: "4f0c1a3e-93a5-4b7c-b5a1-6c3f3e0d2a11"))
    }

    @Test func wrongDirectionIsRefused() throws {
        #expect(
            throws: InputError(
                field: "event_type",
                reason: "instance.delete.end is an unregister event, not a register event (`nova-dirsvc apply` takes either)")
        ) {
            try EventDecoder.decode(fixture("instance-delete-end.json"), for: .register).event
        }
    }

    @Test(
        "bad input names the field",
        arguments: [
            (#"{"instance_uuid": "not-a-uuid"}"#, "instance_uuid"),
            (#"{"instance_uuid": 42}"#, "instance_uuid"),
            (#"[1, 2]"#, "event"),
            (#"{"instance_uuid": "2cb805cf-debe-43ae-a555-28a4a5d8469"#, "event"),
            (
                #"{"event_type": "instance.delete.end", "payload": {"nova_object.data": {"uuid": "2cb805cf-debe-43ae-a555-28a4a5d84694"}}}"#,
                "event_type"
            ),
            (#"{"event_type": "instance.create.end", "payload": 5}"#, "payload"),
            (#"{"event_type": "instance.create.end", "payload": {"nova_object.data": {"uuid": "x"}}}"#, "payload.nova_object.data.uuid"),
            (#"{"oslo.version": "2.0", "oslo.message": "{not json"}"#, "oslo.message"),
            (#"{"oslo.version": "1.0", "oslo.message": "{}"}"#, "oslo.version"),
            (#"{"hello": "world"}"#, "event"),
        ])
    func badInput(text: String, field: String) {
        #expect { try EventDecoder.decode(Data(text.utf8), for: .register) } throws: { ($0 as? InputError)?.field == field }
    }

    @Test("a bad instance UUID refuses the event", arguments: ["2cb805cf-debe-43ae-a555-28a4a5d8469g", "x,ou=Services,dc=example,dc=com"])
    func uuidValidation(value: String) {
        var record = exampleRecord
        record["instance_uuid"] = value
        #expect { try EventDecoder.decode(json(record), for: .register) } throws: { ($0 as? InputError)?.field == "instance_uuid" }
    }

    @Test(
        "an unusable optional value is left out, named, and the rest registers",
        arguments: [
            ("image_uuid", "035c2bc7f2be4607afcfc3b6237e9fe5"), ("mac_address", "fa:16:3e:56:50"),
            ("mac_address", "fa:16:3e:56:50:29)(cn=*"), ("project_name", ""), ("project_name", "a\u{0}b"),
            ("project_name", String(repeating: "x", count: 256)), ("user_name", "line\nbreak"),
            ("user_remote_address", "192.168.122.256"), ("user_remote_address", "*"),
        ])
    func fieldValidation(field: String, value: String) throws {
        var record = exampleRecord
        record[field] = value
        let decoded = try EventDecoder.decode(json(record), for: .register)
        #expect(decoded.dropped.map(\.field) == [field])
        guard case .register(let registered) = decoded.event else {
            Issue.record("not a register")
            return
        }
        #expect(registered.json.object?[field] == nil)
        #expect(registered.instanceUUID == exampleRecord["instance_uuid"] as? String)
    }

    @Test func whatNovaReallySendsIsAccepted() throws {
        var record = exampleRecord
        record["hostname"] = "datanode-ü1"  // sanitize_hostname keeps Latin-1 letters
        record["user_remote_address"] = "203.0.113.7, 10.0.0.1"  // X-Forwarded-For with use_forwarded_for
        let decoded = try EventDecoder.decode(json(record), for: .register)
        #expect(decoded.dropped.isEmpty)
        #expect(decoded.event?.record?.hostname == "datanode-ü1")
        #expect(decoded.event?.record?.userRemoteAddress == "203.0.113.7")
        record["user_remote_address"] = NSNull()  // a hook context without remote_address
        let unknown = try EventDecoder.decode(json(record), for: .register)
        #expect(unknown.dropped.isEmpty && unknown.event?.record?.userRemoteAddress == nil)
    }

    @Test func notificationValuesAreLeftOutByTheirPath() throws {
        let text =
            #"{"event_type": "instance.create.end", "payload": {"nova_object.data": {"uuid": "2cb805cf-debe-43ae-a555-28a4a5d84694", "tenant_id": 42, "ip_addresses": [{"nova_object.data": {"mac": "zz:16:3e:4c:2c:30", "address": "10.0.0.5"}}]}}}"#
        let decoded = try EventDecoder.decode(Data(text.utf8), for: .register)
        #expect(Set(decoded.dropped.map(\.field)) == ["payload.nova_object.data.tenant_id", "payload.nova_object.data.ip_addresses[].mac"])
        #expect(decoded.event?.record?.ipAddresses == ["10.0.0.5"])
    }

    @Test func eventTypesDecideWhatHappens() throws {
        var note = try JSONSerialization.jsonObject(with: fixture("instance-create-end.json")) as! [String: Any]
        func decode(_ type: String, _ action: EventDecoder.Action) throws -> EventDecoder.Decoded {
            note["event_type"] = type
            return try EventDecoder.decode(json(note), for: action)
        }
        guard case .ignored(let type, let uuid) = try decode("instance.power_off.end", .register).kind else {
            Issue.record()
            return
        }
        #expect(type == "instance.power_off.end" && uuid == "178b0921-8f85-4257-88b6-2e743b5a975c")
        #expect(try decode("instance.update", .register).event == nil)
        guard case .update(let record) = try decode("instance.interface_detach.end", .any).event else {
            Issue.record()
            return
        }
        #expect(record.ipAddresses != nil)
        guard case .register = try decode("instance.create.end", .any).event else {
            Issue.record()
            return
        }
        guard case .unregister = try decode("instance.delete.end", .any).event else {
            Issue.record()
            return
        }
        #expect(try decode("compute.metrics.update", .any).event == nil)
    }

    @Test func anEmptyAddressListIsKnownToBeNone() throws {
        var note = try JSONSerialization.jsonObject(with: fixture("instance-create-end.json")) as! [String: Any]
        var payload = note["payload"] as! [String: Any]
        var data = payload["nova_object.data"] as! [String: Any]
        data["ip_addresses"] = [Any]()
        payload["nova_object.data"] = data
        note["payload"] = payload
        note["event_type"] = "instance.interface_detach.end"
        let record = try EventDecoder.decode(json(note), for: .any).event?.record
        #expect(record?.macAddresses == [] && record?.ipAddresses == [])
        // and in the DICT, [] means "not allocated yet": unknown, nothing removed
        var dict = exampleRecord
        dict["mac_address"] = [String]()
        #expect(try EventDecoder.decode(json(dict), for: .register).event?.record?.macAddresses == nil)
    }

    @Test(
        "missing fields of a register record", arguments: ["image_uuid", "mac_address", "project_name", "user_name", "user_remote_address"])
    func missingField(field: String) {
        var record = exampleRecord
        record.removeValue(forKey: field)
        #expect { try EventDecoder.decode(json(record), for: .register) } throws: { ($0 as? InputError)?.field == field }
    }

    @Test func normalisation() throws {
        var record = exampleRecord
        record["instance_uuid"] = "2CB805CF-DEBE-43AE-A555-28A4A5D84694"
        record["mac_address"] = ["FA-16-3E-56-50-29", "fa:16:3e:56:50:29", "fa:16:3e:00:00:01"]
        record["user_remote_address"] = "2001:DB8:0:0:0:0:0:1"
        guard case .register(let decoded) = try EventDecoder.decode(json(record), for: .register).event else {
            Issue.record()
            return
        }
        #expect(decoded.instanceUUID == "2cb805cf-debe-43ae-a555-28a4a5d84694")
        #expect(decoded.macAddresses == ["fa:16:3e:56:50:29", "fa:16:3e:00:00:01"])
        #expect(decoded.userRemoteAddress == "2001:db8::1")
    }

    @Test func oversizedAndNonUTF8() {
        let big = Data(repeating: UInt8(ascii: " "), count: EventDecoder.maxInputSize + 1)
        #expect { try EventDecoder.decode(big, for: .register) } throws: { ($0 as? InputError)?.field == "event" }
        #expect { try EventDecoder.decode(Data([0x7B, 0xFF, 0xFE, 0x7D]), for: .register) } throws: {
            ($0 as? InputError)?.reason == "not UTF-8 text"
        }
    }

    @Test func imageRefURLWithoutAnImage() throws {
        var message = try JSONSerialization.jsonObject(with: fixture("compute-instance-create-end.legacy.json")) as! [String: Any]
        var payload = message["payload"] as! [String: Any]
        payload["image_meta"] = [:] as [String: Any]
        payload["image_ref_url"] = "http://127.0.0.1:9292/images/"
        message["payload"] = payload
        guard case .register(let record) = try EventDecoder.decode(json(message), for: .register).event else {
            Issue.record()
            return
        }
        #expect(record.imageUUID == nil)
    }
}
