import Glibc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The record of one Nova instance (the "DICT" the original plugin logged), validated and
/// normalised. A field that is nil was not supplied by the source of the record: it is never
/// written, and never removed from an existing entry.
package struct InstanceRecord: Hashable, Sendable {
    /// The key: a UUID, lowercased.
    package var instanceUUID: String
    /// The Glance image's UUID; nil for a boot-from-volume instance or when unknown.
    package var imageUUID: String?
    /// MAC addresses, lowercase, colon-separated, in the order given.
    package var macAddresses: [String]?
    package var projectName: String?
    package var userName: String?
    /// The address the create request came from (IPv4 or IPv6).
    package var userRemoteAddress: String?
    package var hostname: String?
    package var ipAddresses: [String]?
    /// Keystone IDs, when the source has IDs rather than names (notifications, the Nova API).
    package var projectID: String?
    package var userID: String?

    package init(
        instanceUUID: String, imageUUID: String? = nil, macAddresses: [String]? = nil,
        projectName: String? = nil, userName: String? = nil, userRemoteAddress: String? = nil,
        hostname: String? = nil, ipAddresses: [String]? = nil, projectID: String? = nil, userID: String? = nil
    ) {
        self.instanceUUID = instanceUUID
        self.imageUUID = imageUUID
        self.macAddresses = macAddresses
        self.projectName = projectName
        self.userName = userName
        self.userRemoteAddress = userRemoteAddress
        self.hostname = hostname
        self.ipAddresses = ipAddresses
        self.projectID = projectID
        self.userID = userID
    }
}

/// A register or an unregister, from whichever input form.
package enum InstanceEvent: Hashable, Sendable {
    /// Add the entry, or bring it up to date with what the record supplies.
    case register(InstanceRecord)
    /// Delete the entry.
    case unregister(instanceUUID: String)
    /// Bring an existing entry up to date with what the record supplies; an absent entry is
    /// not created (an update may arrive after the delete).
    case update(InstanceRecord)

    package var instanceUUID: String {
        switch self {
        case .register(let record), .update(let record): return record.instanceUUID
        case .unregister(let uuid): return uuid
        }
    }
    package var action: String {
        switch self {
        case .register: return "register"
        case .unregister: return "unregister"
        case .update: return "update"
        }
    }

    /// The record, for register and update.
    package var record: InstanceRecord? {
        switch self {
        case .register(let record), .update(let record): return record
        case .unregister: return nil
        }
    }
}

/// Bad input: which field, and why. Nothing has been written when this is thrown.
package struct InputError: Error, Equatable, CustomStringConvertible {
    package var field: String
    package var reason: String
    package init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }
    package var description: String { "\(field): \(reason)" }
}

/// Field validators. Each returns the normalised value or throws an `InputError`.
package enum Validate {
    static let maxLength = 255

    /// A value as an error message or a log line may show it: quoted, cut to 64 characters,
    /// with control, format and separator characters (bidi overrides, zero-width spaces, line
    /// separators) escaped as \u{...}, so that no input can rearrange or hide the text around it.
    package static func quote(_ value: String) -> String {
        let shown = escaped(String(String.UnicodeScalarView(value.unicodeScalars.prefix(64))))
        return "\"" + shown + (value.unicodeScalars.count > 64 ? "...\"" : "\"")
    }

    /// `value` with quotes, backslashes and invisible or reordering characters escaped.
    package static func escaped(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            if isInvisible(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else if scalar == "\"" || scalar == "\\" {
                out += "\\" + String(scalar)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Control (Cc), format (Cf: bidi controls, zero-width characters), line and paragraph
    /// separators, private-use, unassigned and surrogate code points, and U+FFFD.
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .unassigned, .surrogate: return true
        default: return scalar.value == 0xFFFD
        }
    }

    package static func uuid(_ value: String, field: String) throws -> String {
        let bytes = Array(value.utf8)
        let ok =
            bytes.count == 36
            && bytes.enumerated().allSatisfy { i, c in
                [8, 13, 18, 23].contains(i) ? c == UInt8(ascii: "-") : isHex(c)
            }
        guard ok else { throw InputError(field: field, reason: "not a UUID (8-4-4-4-12 hex digits): \(quote(value))") }
        return value.lowercased()
    }

    static func macAddress(_ value: String, field: String) throws -> String {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        let dashParts = value.split(separator: "-", omittingEmptySubsequences: false)
        let octets = parts.count == 6 ? parts : dashParts
        guard octets.count == 6, octets.allSatisfy({ $0.utf8.count == 2 && $0.utf8.allSatisfy(isHex) }) else {
            throw InputError(field: field, reason: "not a MAC address (six hex octets, e.g. fa:16:3e:56:50:29): \(quote(value))")
        }
        return octets.joined(separator: ":").lowercased()
    }

    static func ipAddress(_ value: String, field: String) throws -> String {
        var v4 = in_addr()
        var v6 = in6_addr()
        if !value.contains(":"), value.utf8.count <= 15, inet_pton(AF_INET, value, &v4) == 1 { return value }
        if value.utf8.count <= 45, inet_pton(AF_INET6, value, &v6) == 1 {
            // normalise to the canonical (RFC 5952) text form
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count))
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        throw InputError(field: field, reason: "not an IPv4 or IPv6 address: \(quote(value))")
    }

    /// A display name (project, user): 1 to 255 Unicode scalars (so at most 1,020 bytes of
    /// UTF-8; counted in scalars, not characters: "e" + 400,000 combining accents is one
    /// character), none of them invisible (see `isInvisible`), no leading or trailing space.
    static func name(_ value: String, field: String) throws -> String {
        guard !value.isEmpty else { throw InputError(field: field, reason: "empty") }
        guard value.unicodeScalars.count <= maxLength else { throw InputError(field: field, reason: "longer than \(maxLength) characters") }
        guard !value.unicodeScalars.contains(where: isInvisible) else {
            throw InputError(field: field, reason: "contains control, format or invalid characters: \(quote(value))")
        }
        guard value.first != " ", value.last != " " else {
            throw InputError(field: field, reason: "leading or trailing space: \(quote(value))")
        }
        return value
    }

    /// A host name as Nova makes one (`sanitize_hostname`): labels of letters (Nova keeps
    /// Latin-1 letters: "datanode ü1" -> `datanode-ü1`), digits, hyphens and underscores, dots
    /// between them; at most 63 characters a label and 253 in all.
    static func hostname(_ value: String, field: String) throws -> String {
        let labels = value.split(separator: ".", omittingEmptySubsequences: false)
        let ok =
            value.unicodeScalars.count <= 253 && !labels.isEmpty
            && labels.allSatisfy { label in
                (1...63).contains(label.unicodeScalars.count) && label.first != "-" && label.last != "-"
                    && label.unicodeScalars.allSatisfy {
                        $0.properties.isAlphabetic || $0.properties.numericType == .decimal || $0 == "-" || $0 == "_"
                    }
            }
        guard ok else { throw InputError(field: field, reason: "not a host name (letters, digits, hyphens, dots): \(quote(value))") }
        return value
    }

    /// The address a request came from. Where Nova sits behind a proxy with
    /// `use_forwarded_for`, it stores the X-Forwarded-For list ("203.0.113.7, 10.0.0.1"): the
    /// first address is the client's, and is the one kept.
    static func remoteAddress(_ value: String, field: String) throws -> String {
        let first = value.split(separator: ",", maxSplits: 1).first.map { $0.trimmed } ?? ""
        return try ipAddress(first, field: field)
    }

    /// A Keystone ID: 1 to 64 printable ASCII characters without spaces.
    static func identifier(_ value: String, field: String) throws -> String {
        guard (1...64).contains(value.utf8.count), value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw InputError(field: field, reason: "not an ID (1 to 64 printable ASCII characters): \(quote(value))")
        }
        return value
    }

    private static func isHex(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66)
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
