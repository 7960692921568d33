#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns the bytes of an event into an `InstanceEvent`, recognising the form by itself:
///
/// - the record (the DICT): `{"instance_uuid": ..., "image_uuid": ..., "mac_address": ...,
///   "project_name": ..., "user_name": ..., "user_remote_address": ...}` (+ optional
///   `hostname`, `ip_addresses`, `project_id`, `user_id`); for `register` every DICT key must be
///   present (`image_uuid` may be "" and `mac_address` [] when not known yet); for
///   `unregister` only `instance_uuid` is needed;
/// - a Nova versioned notification (`event_type` `instance.create.end` / `instance.delete.end`,
///   `payload` with `nova_object.data`);
/// - either of those notifications inside the oslo.messaging 2.0 envelope
///   (`{"oslo.version": "2.0", "oslo.message": "<JSON text>"}`);
/// - the legacy notification `compute.instance.create.end` / `compute.instance.delete.end`.
///
/// From a notification the record takes: uuid (legacy: instance_id), image_uuid (legacy:
/// image_meta.base_image_ref or the last part of image_ref_url), host_name (legacy: hostname),
/// the MAC and IP addresses of ip_addresses (legacy: fixed_ips[].vif_mac / address), tenant_id,
/// user_id, and the names from the `_context_project_name`, `_context_user_name` and
/// `_context_remote_address` keys of the message where present.
public enum EventDecoder {
    /// Larger input is refused before parsing.
    public static let maxInputSize = 1 << 20

    public static func decode(_ data: Data, for action: Action) throws -> InstanceEvent {
        guard data.count <= maxInputSize else {
            throw InputError(field: "event", reason: "larger than \(maxInputSize) bytes")
        }
        guard String(validating: data, as: UTF8.self) != nil else {
            throw InputError(field: "event", reason: "not UTF-8 text")
        }
        let value: JSONValue
        do { value = try JSONValue.parse(data) }
        catch { throw InputError(field: "event", reason: "not valid JSON: \(error)") }
        guard let message = value.object else {
            throw InputError(field: "event", reason: "not a JSON object")
        }
        return try decode(message, for: action, unwrapped: false)
    }

    /// Reads an event from a file, or standard input for "-": at most `maxInputSize` + 1
    /// bytes, so that larger input is refused as such without being read whole.
    public static func read(path: String) throws -> Data {
        guard let data = POSIX.read(path: path, limit: maxInputSize + 1) else {
            throw ConfigurationError("cannot read the event file \(path): \(POSIX.errorText)")
        }
        return data
    }

    public enum Action: String, Sendable {
        case register, unregister
    }

    /// Where an event comes from.
    public enum Input: Sendable {
        /// JSON bytes in any of the forms this decoder knows.
        case json(Data)
        /// A record from command-line flags (validated here).
        case record(InstanceRecord)
        /// An instance UUID from a command-line flag (validated here).
        case instanceUUID(String)
    }

    /// Decodes and validates an event from any input.
    public static func decode(_ input: Input, for action: Action) throws -> InstanceEvent {
        switch input {
        case .json(let data): return try decode(data, for: action)
        case .record(let record): return .register(try record.validated())
        case .instanceUUID(let uuid): return .unregister(instanceUUID: try Validate.uuid(uuid, field: "instance_uuid"))
        }
    }

    private static func decode(_ message: [String: JSONValue], for action: Action, unwrapped: Bool) throws -> InstanceEvent {
        let fields = Fields(message, prefix: "")
        if message["oslo.message"] != nil {
            guard !unwrapped else { throw InputError(field: "oslo.message", reason: "an envelope inside an envelope") }
            let version = try fields.string("oslo.version")
            guard version == "2.0" else {
                throw InputError(field: "oslo.version", reason: "unsupported envelope version \(Validate.quote(version ?? "(none)"))")
            }
            guard let text = try fields.string("oslo.message"),
                  let inner = (try? JSONValue.parse(Data(text.utf8)))?.object else {
                throw InputError(field: "oslo.message", reason: "not a JSON object in a string")
            }
            return try decode(inner, for: action, unwrapped: true)
        }
        if let eventType = try fields.string("event_type") {
            return try notification(message, eventType: eventType, for: action)
        }
        guard message["instance_uuid"] != nil else {
            throw InputError(field: "event", reason: "neither a record (instance_uuid) nor a Nova notification (event_type)")
        }
        return try record(fields, for: action)
    }

    /// A record as the spool stores it (`InstanceRecord.json`): every field optional.
    static func spooledRecord(_ object: [String: JSONValue]) throws -> InstanceRecord {
        try record(Fields(object, prefix: "spool.record."))
    }

    /// The fields of a record object (the DICT's keys, each optional), validated.
    private static func record(_ fields: Fields) throws -> InstanceRecord {
        guard let uuid = try fields.string(InstanceRecord.keyName) else {
            throw InputError(field: fields.prefix + InstanceRecord.keyName, reason: "missing")
        }
        var record = InstanceRecord(instanceUUID: uuid)
        for field in InstanceRecord.fields {
            switch field.storage {
            case .one: field.set(try fields.string(field.key).map { [$0] }, on: &record)
            case .many: field.set(try fields.stringOrList(field.key), on: &record)
            }
        }
        return try record.validated()
    }

    /// The record form (the DICT).
    private static func record(_ fields: Fields, for action: Action) throws -> InstanceEvent {
        guard let uuid = try fields.string("instance_uuid") else { throw InputError(field: "instance_uuid", reason: "missing") }
        let instanceUUID = try Validate.uuid(uuid, field: "instance_uuid")
        switch action {
        case .unregister:
            return .unregister(instanceUUID: instanceUUID)
        case .register:
            // Every key of the DICT must be there, so that an omission is caught; a value not
            // known yet may be empty: "" for image_uuid (boot from volume), [] for mac_address
            // (the hook runs before networking is allocated). Empty values are not written.
            for field in InstanceRecord.fields where field.inDICT && (fields.object[field.key] ?? .null) == .null {
                throw InputError(field: field.key, reason: "missing")
            }
            var object = fields.object
            if object["ip_addresses"] == nil, let single = object["ip_address"] { object["ip_addresses"] = single }
            return .register(try record(Fields(object, prefix: "")))
        }
    }
}

/// Typed access to a JSON object's fields, with errors that name the field by its full path.
struct Fields {
    let object: [String: JSONValue]
    let prefix: String
    init(_ object: [String: JSONValue], prefix: String) {
        self.object = object
        self.prefix = prefix
    }

    /// A string, or nil when absent or null; any other type is an error.
    func string(_ key: String) throws -> String? {
        switch object[key] {
        case nil, .null?: return nil
        case .string(let value)?: return value
        default: throw InputError(field: prefix + key, reason: "must be a string")
        }
    }

    /// A string or a list of strings, as a list; nil when absent or null.
    func stringOrList(_ key: String) throws -> [String]? {
        switch object[key] {
        case nil, .null?: return nil
        case .string(let value)?: return [value]
        case .array(let values)?:
            return try values.map { value in
                guard let string = value.string else { throw InputError(field: prefix + key, reason: "must be a string or a list of strings") }
                return string
            }
        default: throw InputError(field: prefix + key, reason: "must be a string or a list of strings")
        }
    }

    /// A list of objects; empty when absent or null.
    func objects(_ key: String) throws -> [[String: JSONValue]] {
        switch object[key] {
        case nil, .null?: return []
        case .array(let values)?:
            return try values.map { value in
                guard let item = value.object else { throw InputError(field: prefix + key, reason: "must be a list of objects") }
                return item
            }
        default: throw InputError(field: prefix + key, reason: "must be a list of objects")
        }
    }
}
