#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Turns the bytes of an event into what it asks for, recognising the form by itself:
///
/// - the record (the DICT): `{"instance_uuid": ..., "image_uuid": ..., "mac_address": ...,
///   "project_name": ..., "user_name": ..., "user_remote_address": ...}` (+ optional
///   `hostname`, `ip_addresses`, `project_id`, `user_id`); for `register` every DICT key must be
///   present, but any value may be null (not known; `image_uuid` may also be "" and
///   `mac_address` [] when not known yet); for `unregister` only `instance_uuid` is needed;
/// - a Nova versioned notification (`payload` with `nova_object.data`), plain or inside the
///   oslo.messaging 2.0 envelope (`{"oslo.version": "2.0", "oslo.message": "<JSON text>"}`);
/// - a legacy notification (`compute.instance.*`).
///
/// What a notification's event type does: see `EventDecoder+Notification.swift`. Which
/// values must be usable: only `instance_uuid` (it names the entry). Any other value that
/// cannot be used (a malformed MAC address, a name with control characters, the wrong type)
/// is left out and reported in `Decoded.dropped`: the instance still reaches the directory.
package enum EventDecoder {
    /// Larger input is refused before parsing.
    package static let maxInputSize = 1 << 20

    /// What the caller asked for: `register` and `unregister` take their own events (and
    /// report the others as ignored); `any` (`nova-dirsvc apply`, the bus) decides from the
    /// event type.
    package enum Action: String, Sendable {
        case register, unregister, any
    }

    /// What an input amounts to.
    package struct Decoded: Sendable {
        package enum Kind: Sendable {
            /// An event to apply.
            case apply(InstanceEvent)
            /// A notification this action does not act on: acknowledged, logged, nothing written.
            case ignored(eventType: String, instanceUUID: String?)
        }
        package var kind: Kind
        /// Values left out because they could not be used, each naming the field and why.
        package var dropped: [InputError] = []
        /// Where it came from, for the event log: a notification's event type and message id.
        package var origin = EventOrigin()

        /// The event to apply, or nil when ignored.
        package var event: InstanceEvent? {
            if case .apply(let event) = kind { return event }
            return nil
        }
    }

    /// Where an event comes from.
    package enum Input: Sendable {
        /// JSON bytes in any of the forms this decoder knows.
        case json(Data)
        /// A record from command-line flags (validated strictly: an operator typed it).
        case record(InstanceRecord)
        /// An instance UUID from a command-line flag (validated here).
        case instanceUUID(String)
    }

    /// Decodes and validates an event from any input.
    package static func decode(_ input: Input, for action: Action) throws -> Decoded {
        switch input {
        case .json(let data): return try decode(data, for: action)
        case .record(let record): return Decoded(kind: .apply(.register(try record.validated())))
        case .instanceUUID(let uuid):
            return Decoded(kind: .apply(.unregister(instanceUUID: try Validate.uuid(uuid, field: "instance_uuid"))))
        }
    }

    package static func decode(_ data: Data, for action: Action) throws -> Decoded {
        guard data.count <= maxInputSize else {
            throw InputError(field: "event", reason: "larger than \(maxInputSize) bytes")
        }
        guard String(validating: data, as: UTF8.self) != nil else {
            throw InputError(field: "event", reason: "not UTF-8 text")
        }
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch { throw InputError(field: "event", reason: "not valid JSON: \(error)") }
        guard let message = value.object else {
            throw InputError(field: "event", reason: "not a JSON object")
        }
        return try decode(message, for: action, unwrapped: false)
    }

    /// Reads an event from a file, or standard input for "-": at most `maxInputSize` + 1
    /// bytes, so that larger input is refused as such without being read whole.
    package static func read(path: String) throws -> Data {
        guard let data = POSIX.read(path: path, limit: maxInputSize + 1) else {
            throw ConfigurationError("cannot read the event file \(path): \(POSIX.errorText)")
        }
        return data
    }

    private static func decode(_ message: [String: JSONValue], for action: Action, unwrapped: Bool) throws -> Decoded {
        let fields = Fields(message, prefix: "")
        if message["oslo.message"] != nil {
            guard !unwrapped else { throw InputError(field: "oslo.message", reason: "an envelope inside an envelope") }
            let version = try fields.string("oslo.version")
            guard version == "2.0" else {
                throw InputError(field: "oslo.version", reason: "unsupported envelope version \(Validate.quote(version ?? "(none)"))")
            }
            guard let text = try fields.string("oslo.message"),
                let inner = (try? JSONValue.parse(Data(text.utf8)))?.object
            else {
                throw InputError(field: "oslo.message", reason: "not a JSON object in a string")
            }
            return try decode(inner, for: action, unwrapped: true)
        }
        if let eventType = try fields.string("event_type") {
            var decoded = try notification(message, eventType: eventType, for: action)
            decoded.origin = EventOrigin(eventType: eventType, messageID: (try? fields.string("message_id")) ?? nil)
            // Nova's clock: what orders this instance's events (without it, the event is not ordered)
            if let stamp = (try? fields.string("timestamp")) ?? nil {
                if let time = EventTime(oslo: stamp) {
                    decoded.origin.time = time
                } else if case .apply = decoded.kind {
                    decoded.dropped.append(
                        InputError(
                            field: "timestamp",
                            reason: "\(Validate.quote(stamp)) is not oslo.messaging's "
                                + "YYYY-MM-DD HH:MM:SS.ffffff: the event is not ordered by it"))
                }
            }
            return decoded
        }
        guard message["instance_uuid"] != nil else {
            throw InputError(field: "event", reason: "neither a record (instance_uuid) nor a Nova notification (event_type)")
        }
        return try record(fields, for: action)
    }

    /// A record as the spool stores it (`InstanceRecord.json`): every field optional, every
    /// value checked again (strictly: the spool only holds what was validated once).
    static func spooledRecord(_ object: [String: JSONValue]) throws -> InstanceRecord {
        let fields = Fields(object, prefix: "spool.record.")
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

    /// The record form (the DICT): a register (`unregister`: the UUID alone).
    private static func record(_ fields: Fields, for action: Action) throws -> Decoded {
        guard let uuid = try fields.string("instance_uuid") else { throw InputError(field: "instance_uuid", reason: "missing") }
        let instanceUUID = try Validate.uuid(uuid, field: "instance_uuid")
        if action == .unregister { return Decoded(kind: .apply(.unregister(instanceUUID: instanceUUID))) }
        // Every key of the DICT must be there, so that an omission is caught; a value not
        // known may be null, and "" for image_uuid (boot from volume), [] for mac_address (the
        // hook runs before networking is allocated). Unknown values are not written.
        for field in InstanceRecord.fields where field.inDICT && fields.object[field.key] == nil {
            throw InputError(field: field.key, reason: "missing")
        }
        var object = fields.object
        if object["ip_addresses"] == nil, let single = object["ip_address"] { object["ip_addresses"] = single }
        let values = Fields(object, prefix: "")
        var dropped: [InputError] = []
        var raw = InstanceRecord(instanceUUID: instanceUUID)
        for field in InstanceRecord.fields {
            let value: [String]?
            switch field.storage {
            case .one: value = values.taking(&dropped) { try $0.string(field.key).map { [$0] } }
            case .many: value = values.taking(&dropped) { try $0.stringOrList(field.key) }
            }
            // in the DICT an empty list means "not allocated yet", not "none"
            field.set(value.flatMap { $0.isEmpty ? nil : $0 }, on: &raw)
        }
        let (record, unusable) = raw.validatedDroppingUnusable()
        return Decoded(kind: .apply(.register(record)), dropped: dropped + unusable)
    }
}

/// Where an event came from, as the event log shows it (escaped: it is the sender's text).
package struct EventOrigin: Sendable, Equatable {
    package var eventType: String?
    package var messageID: String?
    /// When the event happened by Nova's clock (a notification's `timestamp`); nil for a
    /// record (the CLI, the hook, HTTP): such an event is applied without ordering.
    package var time: EventTime?
    package init(eventType: String? = nil, messageID: String? = nil, time: EventTime? = nil) {
        self.eventType = eventType.map { Validate.escaped(String($0.prefix(255))) }
        self.messageID = messageID.map { Validate.escaped(String($0.prefix(255))) }
        self.time = time
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

    /// `read(self)`, or nil with the error added to `dropped` when the value is unusable.
    func taking<T>(_ dropped: inout [InputError], _ read: (Fields) throws -> T?) -> T? {
        do { return try read(self) } catch let error as InputError {
            dropped.append(error)
            return nil
        } catch { return nil }
    }

    /// A string or a list of strings, as a list; nil when absent or null.
    func stringOrList(_ key: String) throws -> [String]? {
        switch object[key] {
        case nil, .null?: return nil
        case .string(let value)?: return [value]
        case .array(let values)?:
            return try values.map { value in
                guard let string = value.string else {
                    throw InputError(field: prefix + key, reason: "must be a string or a list of strings")
                }
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
