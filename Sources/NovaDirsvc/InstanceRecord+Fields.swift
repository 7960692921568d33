extension InstanceRecord {
    /// One optional field of the record. `fields` is the one list of them: the record's JSON
    /// (the DICT, the spool, the event log), its validation, the merge of queued events and the
    /// directory entry all derive from it.
    struct Field: Sendable {
        enum Storage: Sendable {
            case one(WritableKeyPath<InstanceRecord, String?> & Sendable)
            case many(WritableKeyPath<InstanceRecord, [String]?> & Sendable)
        }
        /// The key in the DICT, the spool and the event log.
        let key: String
        /// The attribute in the directory.
        let attribute: String
        let storage: Storage
        /// The name bad input is reported under (one value of a list: "ip_address").
        let errorName: String
        /// Validates and normalises one value.
        let validate: @Sendable (String, String) throws -> String
        /// Whether the record form (the DICT) must carry the key (the original plugin's six).
        let inDICT: Bool
        /// Whether "" means "not known" (image_uuid: boot from volume) rather than bad input.
        let emptyIsUnknown: Bool

        init(
            _ key: String, _ attribute: String, _ storage: Storage, errorName: String? = nil, inDICT: Bool = false,
            emptyIsUnknown: Bool = false, validate: @escaping @Sendable (String, String) throws -> String
        ) {
            self.key = key
            self.attribute = attribute
            self.storage = storage
            self.errorName = errorName ?? key
            self.validate = validate
            self.inDICT = inDICT
            self.emptyIsUnknown = emptyIsUnknown
        }

        /// The field's values in `record` (nil: not supplied).
        func values(of record: InstanceRecord) -> [String]? {
            switch storage {
            case .one(let path): return record[keyPath: path].map { [$0] }
            case .many(let path): return record[keyPath: path]
            }
        }

        func set(_ values: [String]?, on record: inout InstanceRecord) {
            switch storage {
            case .one(let path): record[keyPath: path] = values?.first
            case .many(let path): record[keyPath: path] = values
            }
        }

        /// The validated values: nil for "not supplied" (or "" where that means unknown); each
        /// value checked, a list without repeats. An empty list stays empty: known to be none.
        func validated(_ record: InstanceRecord) throws -> [String]? {
            guard let values = values(of: record) else { return nil }
            switch storage {
            case .one:
                if emptyIsUnknown && values[0].isEmpty { return nil }
                return [try validate(values[0], errorName)]
            case .many:
                return try values.map { try validate($0, errorName) }.uniqued()
            }
        }

        /// The field as the DICT writes it: a list, or a string where the DICT has one (a
        /// single MAC address is a string, as the original plugin wrote it).
        func json(_ values: [String]) -> JSONValue {
            switch storage {
            case .one: return .string(values[0])
            case .many: return key == "mac_address" && values.count == 1 ? .string(values[0]) : .strings(values)
            }
        }
    }

    /// The key field: the instance's UUID, `cn` and `novaInstanceUUID` of its entry.
    static let keyName = "instance_uuid"
    static let keyAttribute = "novaInstanceUUID"

    static let fields: [Field] = [
        Field("image_uuid", "novaImageUUID", .one(\.imageUUID), inDICT: true, emptyIsUnknown: true, validate: Validate.uuid),
        Field("mac_address", "macAddress", .many(\.macAddresses), inDICT: true, validate: Validate.macAddress),
        Field("project_name", "novaProjectName", .one(\.projectName), inDICT: true, validate: Validate.name),
        Field("user_name", "novaUserName", .one(\.userName), inDICT: true, validate: Validate.name),
        Field("user_remote_address", "novaUserRemoteAddress", .one(\.userRemoteAddress), inDICT: true, validate: Validate.remoteAddress),
        Field("hostname", "novaHostname", .one(\.hostname), validate: Validate.hostname),
        Field("ip_addresses", "novaIPAddress", .many(\.ipAddresses), errorName: "ip_address", validate: Validate.ipAddress),
        Field("project_id", "novaProjectID", .one(\.projectID), validate: Validate.identifier),
        Field("user_id", "novaUserID", .one(\.userID), validate: Validate.identifier),
    ]

    /// Validates every field and returns the normalised record, or throws an `InputError`
    /// naming the first bad field. (Which fields must be present is the input form's rule:
    /// see `EventDecoder` and the `register` flags.)
    package func validated() throws -> InstanceRecord {
        var record = self
        record.instanceUUID = try Validate.uuid(instanceUUID, field: Self.keyName)
        for field in Self.fields { field.set(try field.validated(self), on: &record) }
        return record
    }

    /// The record with every value that cannot be used left out, and why each was: the rule
    /// for input from Nova, where one odd value must not keep the instance out of the
    /// directory. (The UUID is checked by the caller: without it there is no entry.)
    package func validatedDroppingUnusable() -> (InstanceRecord, [InputError]) {
        var record = self
        var dropped: [InputError] = []
        for field in Self.fields {
            do {
                field.set(try field.validated(self), on: &record)
            } catch let error as InputError {
                dropped.append(error)
                field.set(nil, on: &record)
            } catch {
                field.set(nil, on: &record)
            }
        }
        return (record, dropped)
    }

    /// The record as the original plugin's DICT (a JSON object), for the event log and the spool.
    package var json: JSONValue {
        var dict: [String: JSONValue] = [Self.keyName: .string(instanceUUID)]
        for field in Self.fields {
            if let values = field.values(of: self) { dict[field.key] = field.json(values) }
        }
        return .object(dict)
    }

    /// This record with every field that `newer` supplies taken from `newer`.
    func overlaid(with newer: InstanceRecord) -> InstanceRecord {
        var merged = self
        merged.instanceUUID = newer.instanceUUID
        for field in Self.fields {
            if let values = field.values(of: newer) { field.set(values, on: &merged) }
        }
        return merged
    }
}
