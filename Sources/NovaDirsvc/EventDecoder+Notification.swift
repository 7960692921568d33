/// Nova's notifications, versioned (`payload.nova_object.data`) and legacy (`payload`): which
/// event types register or unregister, and where each record field comes from.
extension EventDecoder {
    static let registerTypes: Set = ["instance.create.end", "compute.instance.create.end"]
    static let unregisterTypes: Set = ["instance.delete.end", "compute.instance.delete.end"]

    static func notification(_ message: [String: JSONValue], eventType: String, for action: Action) throws -> InstanceEvent {
        let isRegister = registerTypes.contains(eventType)
        guard isRegister || unregisterTypes.contains(eventType) else {
            throw InputError(field: "event_type", reason: "\(Validate.quote(eventType)) is not handled (expected one of "
                             + (registerTypes.union(unregisterTypes)).sorted().joined(separator: ", ") + ")")
        }
        guard isRegister == (action == .register) else {
            throw InputError(field: "event_type", reason: "\(eventType) is \(isRegister ? "a register" : "an unregister") event, not \(action == .register ? "a register" : "an unregister") event")
        }
        let top = Fields(message, prefix: "")
        guard let payloadObject = message["payload"]?.object else {
            throw InputError(field: "payload", reason: "missing or not an object")
        }
        let versioned = payloadObject["nova_object.data"] != nil
        let payload: Fields
        if versioned {
            guard let data = payloadObject["nova_object.data"]?.object else {
                throw InputError(field: "payload.nova_object.data", reason: "not an object")
            }
            payload = Fields(data, prefix: "payload.nova_object.data.")
        } else {
            payload = Fields(payloadObject, prefix: "payload.")
        }
        let uuidKey = versioned ? "uuid" : "instance_id"
        guard let uuid = try payload.string(uuidKey) else { throw InputError(field: payload.prefix + uuidKey, reason: "missing") }
        if !isRegister {
            return .unregister(instanceUUID: try Validate.uuid(uuid, field: payload.prefix + uuidKey))
        }

        var macs: [String] = [], ips: [String] = []
        let addressKey = versioned ? "ip_addresses" : "fixed_ips"
        for (i, item) in try payload.objects(addressKey).enumerated() {
            let address = versioned ? Fields(item["nova_object.data"]?.object ?? [:], prefix: "\(payload.prefix)\(addressKey)[\(i)].nova_object.data.")
                                    : Fields(item, prefix: "\(payload.prefix)\(addressKey)[\(i)].")
            if let mac = try address.string(versioned ? "mac" : "vif_mac") { macs.append(mac) }
            if let ip = try address.string("address") { ips.append(ip) }
        }
        var image = try payload.string("image_uuid")
        if !versioned {
            image = try Fields(payloadObject["image_meta"]?.object ?? [:], prefix: "payload.image_meta.").string("base_image_ref")
            // image_ref_url ends in the image's UUID, except where Nova had none ("http://glance/images/")
            if image == nil, let url = try payload.string("image_ref_url"), let last = url.split(separator: "/").last,
               let uuid = try? Validate.uuid(String(last), field: "image_uuid") { image = uuid }
        }
        let record = InstanceRecord(
            instanceUUID: uuid, imageUUID: image,
            macAddresses: macs.isEmpty ? nil : macs,
            projectName: try top.string("_context_project_name"), userName: try top.string("_context_user_name"),
            userRemoteAddress: try top.string("_context_remote_address"),
            hostname: try payload.string(versioned ? "host_name" : "hostname").flatMap { $0.isEmpty ? nil : $0 },
            ipAddresses: ips.isEmpty ? nil : ips,
            projectID: try payload.string("tenant_id"), userID: try payload.string("user_id"))
        do {
            return .register(try record.validated())
        } catch var error as InputError {
            error.field = Self.notificationField(error.field, versioned: versioned, prefix: payload.prefix)
            throw error
        }
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
