/// Nova's notifications, versioned (`payload.nova_object.data`) and legacy (`payload`): what
/// each event type does, and where each record field comes from.
///
/// | event type | does |
/// |---|---|
/// | `instance.create.end`, `compute.instance.create.end` | register |
/// | `instance.delete.end`, `compute.instance.delete.end` | unregister (Nova sends `instance.delete.end` also for never-scheduled and compute-down deletes) |
/// | `instance.update`, `instance.interface_attach.end`, `instance.interface_detach.end`, `instance.rebuild.end` (and their `compute.instance.*` forms) | update: an existing entry gets what the payload carries; an absent one is not created |
/// | anything else | ignored: acknowledged and logged, nothing written |
///
/// From a payload the record takes: uuid (legacy: instance_id), image_uuid (legacy:
/// image_meta.base_image_ref or the last part of image_ref_url), host_name (legacy: hostname),
/// the MAC and IP addresses of ip_addresses (legacy: fixed_ips[].vif_mac / address; the
/// complete current list, so an empty one removes them), tenant_id, user_id, and the names from
/// the message's `_context_project_name`, `_context_user_name` and `_context_remote_address`.
extension EventDecoder {
    enum NotificationKind { case register, unregister, update }

    static let notificationKinds: [String: NotificationKind] = [
        "instance.create.end": .register, "compute.instance.create.end": .register,
        "instance.delete.end": .unregister, "compute.instance.delete.end": .unregister,
        "instance.update": .update, "compute.instance.update": .update,
        "instance.interface_attach.end": .update, "compute.instance.interface_attach.end": .update,
        "instance.interface_detach.end": .update, "compute.instance.interface_detach.end": .update,
        "instance.rebuild.end": .update, "compute.instance.rebuild.end": .update,
    ]

    static func notification(_ message: [String: JSONValue], eventType: String, for action: Action) throws -> Decoded {
        let kind = notificationKinds[eventType]
        let top = Fields(message, prefix: "")
        let payloadObject = message["payload"]?.object
        let versioned = payloadObject?["nova_object.data"] != nil
        let payload =
            versioned
            ? Fields(payloadObject?["nova_object.data"]?.object ?? [:], prefix: "payload.nova_object.data.")
            : Fields(payloadObject ?? [:], prefix: "payload.")
        let uuidKey = versioned ? "uuid" : "instance_id"
        func instanceUUID() throws -> String {
            guard payloadObject != nil else { throw InputError(field: "payload", reason: "missing or not an object") }
            guard let uuid = try payload.string(uuidKey) else { throw InputError(field: payload.prefix + uuidKey, reason: "missing") }
            return try Validate.uuid(uuid, field: payload.prefix + uuidKey)
        }
        let acts: Bool
        switch (action, kind) {
        case (.any, .some), (.register, .register?), (.unregister, .unregister?): acts = true
        case (.register, .unregister?), (.unregister, .register?):
            throw InputError(
                field: "event_type",
                reason: "\(eventType) is \(kind == .register ? "a register" : "an unregister") event, "
                    + "not \(action == .register ? "a register" : "an unregister") event (`nova-dirsvc apply` takes either)")
        default: acts = false
        }
        guard acts, let kind else {
            // not ours to act on: say which instance, if the payload names one usably
            return Decoded(kind: .ignored(eventType: Validate.escaped(eventType), instanceUUID: try? instanceUUID()))
        }
        let uuid = try instanceUUID()
        if kind == .unregister { return Decoded(kind: .apply(.unregister(instanceUUID: uuid))) }

        var dropped: [InputError] = []
        var raw = InstanceRecord(instanceUUID: uuid)
        let addressKey = versioned ? "ip_addresses" : "fixed_ips"
        if (payload.object[addressKey] ?? .null) != .null, let items = payload.taking(&dropped, { try $0.objects(addressKey) }) {
            var macs: [String] = []
            var ips: [String] = []
            for (i, item) in items.enumerated() {
                let address =
                    versioned
                    ? Fields(item["nova_object.data"]?.object ?? [:], prefix: "\(payload.prefix)\(addressKey)[\(i)].nova_object.data.")
                    : Fields(item, prefix: "\(payload.prefix)\(addressKey)[\(i)].")
                if let mac = address.taking(&dropped, { try $0.string(versioned ? "mac" : "vif_mac") }) { macs.append(mac) }
                if let ip = address.taking(&dropped, { try $0.string("address") }) { ips.append(ip) }
            }
            // the complete current list: empty means the instance has no ports
            raw.macAddresses = macs
            raw.ipAddresses = ips
        }
        if versioned {
            raw.imageUUID = payload.taking(&dropped) { try $0.string("image_uuid") }
        } else {
            raw.imageUUID = Fields(payloadObject?["image_meta"]?.object ?? [:], prefix: "payload.image_meta.")
                .taking(&dropped) { try $0.string("base_image_ref") }
            // image_ref_url ends in the image's UUID, except where Nova had none ("http://glance/images/")
            if raw.imageUUID == nil, let url = payload.taking(&dropped, { try $0.string("image_ref_url") }),
                let last = url.split(separator: "/").last, let image = try? Validate.uuid(String(last), field: "image_uuid")
            {
                raw.imageUUID = image
            }
        }
        raw.hostname = payload.taking(&dropped) { try $0.string(versioned ? "host_name" : "hostname") }.flatMap { $0.isEmpty ? nil : $0 }
        raw.projectID = payload.taking(&dropped) { try $0.string("tenant_id") }
        raw.userID = payload.taking(&dropped) { try $0.string("user_id") }
        raw.projectName = top.taking(&dropped) { try $0.string("_context_project_name") }
        raw.userName = top.taking(&dropped) { try $0.string("_context_user_name") }
        raw.userRemoteAddress = top.taking(&dropped) { try $0.string("_context_remote_address") }
        let (record, unusable) = raw.validatedDroppingUnusable()
        let named = unusable.map { error in
            var error = error
            error.field = notificationField(error.field, versioned: versioned, prefix: payload.prefix)
            return error
        }
        return Decoded(kind: .apply(kind == .register ? .register(record) : .update(record)), dropped: dropped + named)
    }

    /// Names a record field by where it came from in the notification.
    private static func notificationField(_ field: String, versioned: Bool, prefix: String) -> String {
        switch field {
        case "instance_uuid": return prefix + (versioned ? "uuid" : "instance_id")
        case "image_uuid": return versioned ? prefix + "image_uuid" : "payload.image_meta.base_image_ref"
        case "mac_address": return prefix + (versioned ? "ip_addresses[].mac" : "fixed_ips[].vif_mac")
        case "ip_address": return prefix + (versioned ? "ip_addresses[].address" : "fixed_ips[].address")
        case "hostname": return prefix + (versioned ? "host_name" : "hostname")
        case "project_name": return "_context_project_name"
        case "user_name": return "_context_user_name"
        case "user_remote_address": return "_context_remote_address"
        case "project_id": return prefix + "tenant_id"
        case "user_id": return prefix + "user_id"
        default: return field
        }
    }
}
