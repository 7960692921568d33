#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Turns Nova's list of live instances into records, recognising the form by itself. What each
/// form can supply (a field it cannot supply stays nil, so reconcile leaves that attribute as
/// it is in the directory):
///
/// | form | supplies |
/// |---|---|
/// | a JSON list of records (the register DICT) | every field the records carry |
/// | `GET /servers/detail` body `{"servers": [...]}` | uuid (`id`), image (`image.id`; `""` for boot from volume), MAC and fixed IP addresses (`addresses`, `OS-EXT-IPS-MAC:mac_addr`, `OS-EXT-IPS:type` fixed), hostname (`OS-EXT-SRV-ATTR:hostname`, admin only), project and user IDs (`tenant_id`, `user_id`) |
/// | `openstack server list --all-projects --long -f json` | uuid (`ID`), image (`Image ID`), IP addresses (`Networks`), project and user IDs where the columns exist (`Project ID`, `User ID`) |
///
/// None of the server lists carries project or user *names* or the request's remote address.
///
/// Several documents may be given (files, or one after another on standard input): the pages
/// of `/servers/detail`, in order. A page whose `next` link is not followed by another page is
/// refused: an incomplete list would look like deleted instances. A server listed with status
/// `DELETED` (`?deleted=true`, `changes-since`) is not live; one with status `UNKNOWN` (a cell
/// that is down, v2.69) is neither written nor deleted.
package enum InstanceListDecoder {
    /// Reads the list from a file, or standard input for "-".
    package static func readInput(path: String) throws -> Data {
        guard let data = POSIX.read(path: path) else {
            throw ConfigurationError("cannot read the instance list \(path): \(POSIX.fileProblem(path) ?? POSIX.errorText)")
        }
        return data
    }

    /// What the lists say.
    package struct InstanceList: Sendable {
        /// The live instances.
        package var records: [InstanceRecord] = []
        /// Servers Nova lists as DELETED: not live (an entry of theirs goes like any absent one).
        package var deleted: [String] = []
        /// Servers in a cell that is down (status UNKNOWN): their entries are left as they are.
        package var unreachable: [String] = []
    }

    /// Decodes every document of `data` (one file, or standard input: a list, or pages of
    /// `/servers/detail` one after another) through `pages`, handing each one's instances to
    /// `body` as it is decoded.
    package static func decode(
        _ data: Data, through pages: inout Pages, _ body: (InstanceList) throws -> Void
    ) throws {
        let ranges: [Range<Int>]
        do { ranges = try JSONParser.documentRanges(data) } catch {
            throw InputError(field: "instances", reason: "not valid JSON: \(error)")
        }
        for range in ranges {
            let document = Data(data[data.startIndex + range.lowerBound..<data.startIndex + range.upperBound])
            try body(try pages.decode(document: document).list)
        }
    }

    /// The documents of a list, one at a time (the pages of `/servers/detail` as they arrive
    /// from Nova's API: each is decoded, handed on and let go, never all held at once). Whether
    /// an instance is listed twice is the reader's to see (`Reconciler.Planner`).
    package struct Pages {
        private var documents = 0
        private var lastPageLinksOn: String?

        package init() {}

        /// One document's instances, and the next link of a `/servers/detail` page that has one.
        package mutating func decode(document data: Data) throws -> (list: InstanceList, next: String?) {
            documents += 1
            let page = try decodeDocument(data)
            if page.isServersPage { lastPageLinksOn = page.next }
            return (page.list, page.isServersPage ? page.next : nil)
        }

        /// Refuses a list that had no document, or whose last page links to another.
        package func finish() throws {
            guard documents > 0 else { throw InputError(field: "instances", reason: "empty input") }
            if let next = lastPageLinksOn {
                let query = next.split(separator: "?", maxSplits: 1).last.map(String.init) ?? next
                throw InputError(
                    field: "servers_links",
                    reason: "the last page given links to a next page (?\(Validate.quote(query).dropFirst().dropLast())): "
                        + "give every page, in order (several --instances, or one page after another on standard input)")
            }
        }
    }

    /// One document: a `/servers/detail` page (with its next link, if any), or a list.
    private static func decodeDocument(_ data: Data) throws -> (list: InstanceList, isServersPage: Bool, next: String?) {
        var list = InstanceList()
        do {
            if data.first == UInt8(ascii: "{") {
                let page = try JSONDecoder().decode(ServersPage.self, from: data)
                for (index, server) in page.servers.enumerated() {
                    switch server.status?.uppercased() {
                    case "DELETED": list.deleted.append(try Validate.uuid(server.id, field: "servers[\(index)].id"))
                    case "UNKNOWN": list.unreachable.append(try Validate.uuid(server.id, field: "servers[\(index)].id"))
                    default: list.records.append(try server.record(index: index))
                    }
                }
                let next = page.servers_links?.first { $0.rel == "next" }.map { $0.href ?? "next" }
                return (list, true, next)
            }
            let rows = try JSONDecoder().decode([Row].self, from: data)
            if rows.allSatisfy({ $0.instance_uuid != nil }) {
                list.records = try rows.enumerated().map { try $1.record(index: $0) }
            } else if rows.allSatisfy({ $0.ID != nil }) {
                list.records = try rows.enumerated().map { try $1.serverListRecord(index: $0) }
            } else {
                throw InputError(
                    field: "instances",
                    reason: "a list whose items are neither records (instance_uuid) nor `openstack server list` rows (ID)")
            }
            return (list, false, nil)
        } catch let error as DecodingError {
            throw InputError(decoding: error)
        }
    }

    // MARK: the JSON shapes

    struct Link: Decodable {
        var rel: String?
        var href: String?
    }

    struct ServersPage: Decodable {
        var servers: [Server]
        var servers_links: [Link]?
    }

    struct Server: Decodable {
        struct Image: Decodable { var id: String? }
        struct Address: Decodable {
            var addr: String?
            var mac: String?
            var type: String?
            enum CodingKeys: String, CodingKey {
                case addr, mac = "OS-EXT-IPS-MAC:mac_addr", type = "OS-EXT-IPS:type"
            }
        }
        var id: String
        var status: String?
        /// An object, or "" for a server booted from a volume.
        var image: ImageField?
        var addresses: [String: [Address]]?
        var hostname: String?
        var tenant_id: String?
        var user_id: String?
        enum CodingKeys: String, CodingKey {
            case id, status, image, addresses, hostname = "OS-EXT-SRV-ATTR:hostname", tenant_id, user_id
        }
        enum ImageField: Decodable {
            case image(Image), none
            init(from decoder: any Decoder) throws {
                if let image = try? Image(from: decoder) { self = .image(image) } else { self = .none }
            }
        }

        func record(index: Int) throws -> InstanceRecord {
            // `addresses` lists every port: {} means the server has none (stale values go)
            var macs: [String]? = addresses == nil ? nil : []
            var ips: [String]? = addresses == nil ? nil : []
            for network in (addresses ?? [:]).keys.sorted() {
                for address in addresses?[network] ?? [] where address.type == nil || address.type == "fixed" {
                    if let mac = address.mac { macs?.append(mac) }
                    if let addr = address.addr { ips?.append(addr) }
                }
            }
            var imageID: String? = nil
            if case .image(let image)? = image { imageID = image.id ?? "" } else if image != nil { imageID = "" }
            return try InstanceRecord(
                instanceUUID: id, imageUUID: imageID, macAddresses: macs, hostname: hostname,
                ipAddresses: ips, projectID: tenant_id, userID: user_id
            )
            .validated(
                at: "servers[\(index)]",
                names: [
                    "instance_uuid": "id", "image_uuid": "image.id",
                    "mac_address": "addresses.OS-EXT-IPS-MAC:mac_addr",
                    "ip_address": "addresses.addr", "hostname": "OS-EXT-SRV-ATTR:hostname",
                    "project_id": "tenant_id",
                ])
        }
    }

    /// A row of either list form.
    struct Row: Decodable {
        // the record
        var instance_uuid: String?
        var image_uuid: String?
        var mac_address: StringOrList?
        var project_name: String?
        var user_name: String?
        var user_remote_address: String?
        var hostname: String?
        var ip_addresses: StringOrList?
        var project_id: String?
        var user_id: String?
        // openstack server list
        var ID: String?
        var imageID: String?
        var networks: Networks?
        var projectID: String?
        var userID: String?

        enum CodingKeys: String, CodingKey {
            case instance_uuid, image_uuid, mac_address, project_name, user_name, user_remote_address, hostname,
                ip_addresses, project_id, user_id
            case ID, imageID = "Image ID", networks = "Networks", projectID = "Project ID", userID = "User ID"
        }

        func record(index: Int) throws -> InstanceRecord {
            try InstanceRecord(
                instanceUUID: instance_uuid ?? "", imageUUID: image_uuid, macAddresses: mac_address?.values,
                projectName: project_name, userName: user_name, userRemoteAddress: user_remote_address,
                hostname: hostname, ipAddresses: ip_addresses?.values, projectID: project_id, userID: user_id
            )
            .validated(at: "[\(index)]", names: [:])
        }

        func serverListRecord(index: Int) throws -> InstanceRecord {
            // "Image ID" is empty or a note such as "N/A (booted from volume)" without an image.
            let image = imageID.flatMap { try? Validate.uuid($0, field: "image_uuid") } ?? (imageID == nil ? nil : "")
            return try InstanceRecord(
                instanceUUID: ID ?? "", imageUUID: image, ipAddresses: networks?.addresses,
                projectID: projectID, userID: userID
            )
            .validated(
                at: "[\(index)]",
                names: [
                    "instance_uuid": "ID", "ip_address": "Networks",
                    "project_id": "Project ID", "user_id": "User ID",
                ])
        }
    }

    enum StringOrList: Decodable {
        case one(String), many([String])
        var values: [String] {
            switch self {
            case .one(let v): return [v]
            case .many(let v): return v
            }
        }
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(String.self) {
                self = .one(value)
            } else {
                self = .many(try container.decode([String].self))
            }
        }
    }

    /// `Networks`: {"net": ["10.0.0.3", ...]} (newer clients) or "net=10.0.0.3, fd00::3; net2=..." (older).
    enum Networks: Decodable {
        case map([String: [String]]), text(String)
        var addresses: [String] {
            switch self {
            case .map(let map): return map.keys.sorted().flatMap { map[$0]! }
            case .text(let text):
                return text.split(separator: ";").flatMap { network -> [String] in
                    let list: Substring = network.split(separator: "=", maxSplits: 1).last ?? ""
                    return list.split(separator: ",").map(\.trimmed).filter { !$0.isEmpty }
                }
            }
        }
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let map = try? container.decode([String: [String]].self) {
                self = .map(map)
            } else {
                self = .text(try container.decode(String.self))
            }
        }
    }
}

extension InstanceRecord {
    /// `validated()`, with the field of an error named as the input form names it, under `path`.
    func validated(at path: String, names: [String: String]) throws -> InstanceRecord {
        do { return try validated() } catch var error as InputError {
            error.field = "\(path).\(names[error.field] ?? error.field)"
            throw error
        }
    }
}

extension InputError {
    /// A JSON decoding error, with the path of the offending field.
    init(decoding error: DecodingError) {
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.hasPrefix(".") ? String(text.dropFirst()) : (text.isEmpty ? "instances" : text)
        }
        switch error {
        case .typeMismatch(let type, let context): self.init(field: path(context.codingPath), reason: "must be \(type)")
        case .valueNotFound(let type, let context): self.init(field: path(context.codingPath), reason: "must be \(type), not null")
        case .keyNotFound(let key, let context): self.init(field: path(context.codingPath + [key]), reason: "missing")
        case .dataCorrupted(let context):
            self.init(field: path(context.codingPath), reason: context.codingPath.isEmpty ? "not valid JSON" : context.debugDescription)
        @unknown default: self.init(field: "instances", reason: "not valid JSON")
        }
    }
}
