import CLDAP

/// A distinguished name whose string form is known to be valid LDAPv3 (RFC 4514) syntax.
///
/// Build DNs only from parts: `DistinguishedName(validating:)` for a configured DN (a base DN),
/// then `child(_:_:)` with a raw attribute value, which is escaped, so no value can add an RDN,
/// a multi-valued RDN, or climb to another part of the tree.
package struct DistinguishedName: Hashable, Sendable, CustomStringConvertible {
    /// The DN in RFC 4514 string form, as given (for a validated DN) or as built.
    package let string: String

    /// Validates `string` with libldap's own DN parser (`ldap_str2dn`, LDAPv3 syntax).
    /// Throws `invalidDNSyntax` for anything that is not a DN. The empty DN (the root) is valid.
    package init(validating string: String) throws {
        var dn: LDAPDN? = nil
        let rc = ldap_str2dn(string, &dn, UInt32(LDAP_DN_FORMAT_LDAPV3))
        defer { if let dn { ldap_dnfree(dn) } }
        guard rc == LDAP_SUCCESS, !string.utf8.contains(0) else {
            throw LDAPError(
                code: .invalidDNSyntax, operation: "parse DN", dn: string,
                diagnosticMessage: "not a valid LDAPv3 distinguished name")
        }
        self.string = string
    }

    private init(uncheckedString string: String) { self.string = string }

    /// The DN `attribute=value,self`, with `value` escaped as RFC 4514 requires.
    /// `attribute` must be an attribute type name (letters, digits, hyphens) or an OID.
    package func child(_ attribute: String, _ value: String) -> DistinguishedName {
        precondition(Self.isAttributeType(attribute), "not an attribute type: \(attribute)")
        let rdn = "\(attribute)=\(Self.escape(value))"
        return DistinguishedName(uncheckedString: string.isEmpty ? rdn : "\(rdn),\(string)")
    }

    /// Whether `name` is a valid attribute description without options: a `descr`
    /// (ALPHA *(ALPHA / DIGIT / "-")) or a numeric OID (RFC 4512 section 1.4).
    package static func isAttributeType(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first else { return false }
        func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        if isAlpha(first) {
            return bytes.allSatisfy { isAlpha($0) || isDigit($0) || $0 == 0x2D }
        }
        // numericoid = number 1*( DOT number ); number = DIGIT / ( LDIGIT 1*DIGIT )
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count >= 2
            && parts.allSatisfy { part in
                !part.isEmpty && part.utf8.allSatisfy(isDigit) && (part.count == 1 || part.first != "0")
            }
    }

    /// Escapes an attribute value for use in a DN string (RFC 4514 section 2.4).
    ///
    /// Escaped with a backslash: `"` `+` `,` `;` `<` `>` `\` and `=` everywhere, `#` and space
    /// at the start, space at the end. Escaped as `\hh`: NUL, other control characters and DEL.
    /// Other characters, including non-ASCII UTF-8, are kept as they are (RFC 4514 allows it).
    package static func escape(_ value: String) -> String {
        let bytes = Array(value.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 8)
        for (i, b) in bytes.enumerated() {
            switch b {
            case 0x22, 0x2B, 0x2C, 0x3B, 0x3C, 0x3E, 0x5C, 0x3D:  // " + , ; < > \ =
                out.append(0x5C)
                out.append(b)
            case 0x23 where i == 0, 0x20 where i == 0 || i == bytes.count - 1:  // leading #, leading/trailing space
                out.append(0x5C)
                out.append(b)
            case 0x00..<0x20, 0x7F:
                out.append(contentsOf: hexEscape(b))
            default:
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    package var description: String { string }
}

/// `\hh` with lowercase hex digits.
func hexEscape(_ byte: UInt8) -> [UInt8] {
    let digits = Array("0123456789abcdef".utf8)
    return [0x5C, digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
}

extension DistinguishedName {
    /// For DNs that come from a trusted source (the server); not validated again.
    init(trusted string: String) { self.init(uncheckedString: string) }
}
