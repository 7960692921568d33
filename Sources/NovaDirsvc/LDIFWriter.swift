import LDAP

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Writes LDIF (RFC 2849): values that are not "safe strings" are base64-encoded (`attr::`),
/// so any value, hostile or not, round-trips through ldapadd/ldapmodify unchanged.
package enum LDIF {
    /// `name: value`, or `name:: base64` when the value needs it.
    package static func line(_ name: String, _ value: String) -> String {
        isSafe(value) ? "\(name): \(value)" : "\(name):: \(Data(value.utf8).base64EncodedString())"
    }

    /// SAFE-STRING of RFC 2849: ASCII without NUL, LF, CR; not starting with space, `:` or `<`;
    /// (and, so that readers need no trailing-space care, not ending with a space).
    static func isSafe(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard let first = bytes.first else { return true }
        if first == 0x20 || first == 0x3A || first == 0x3C || bytes.last == 0x20 { return false }
        return bytes.allSatisfy { $0 != 0 && $0 != 0x0A && $0 != 0x0D && $0 < 0x80 }
    }

    /// An entry as an LDIF content record.
    package static func entry(_ entry: Entry) -> String {
        var text = line("dn", entry.dn.string) + "\n"
        for attribute in entry.attributes {
            for value in attribute.values { text += line(attribute.name, value) + "\n" }
        }
        return text
    }

    /// An entry as a JSON object: {"dn": ..., "attributes": {name: [values]}}.
    package static func json(_ entry: Entry) -> JSONValue {
        var attributes: [String: [String]] = [:]
        for attribute in entry.attributes { attributes[attribute.name, default: []] += attribute.values }
        return .object(["dn": .string(entry.dn.string), "attributes": .object(attributes.mapValues(JSONValue.strings))])
    }
}
