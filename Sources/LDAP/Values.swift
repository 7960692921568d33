/// An attribute and its values, as sent in an add request or read from an entry.
package struct Attribute: Hashable, Sendable {
    package var name: String
    package var values: [String]
    package init(_ name: String, _ values: [String]) {
        self.name = name
        self.values = values
    }
}

/// One change of a modify request (RFC 4511 section 4.6).
package struct Modification: Hashable, Sendable {
    /// The kinds of change, named as in LDIF (RFC 2849).
    package enum Kind: String, Hashable, Sendable { case add, delete, replace }
    package var kind: Kind
    package var attribute: String
    /// For `.delete`, no values means: delete the whole attribute.
    /// For `.replace`, no values means: remove the attribute if present.
    package var values: [String]

    package init(_ kind: Kind, _ attribute: String, _ values: [String]) {
        self.kind = kind
        self.attribute = attribute
        self.values = values
    }
    package static func add(_ attribute: String, _ values: [String]) -> Self { .init(.add, attribute, values) }
    package static func replace(_ attribute: String, _ values: [String]) -> Self { .init(.replace, attribute, values) }
    package static func delete(_ attribute: String, _ values: [String] = []) -> Self { .init(.delete, attribute, values) }
}

/// A write to the directory, for `LDAPConnection.perform(_:window:completion:)`.
package enum WriteOperation: Hashable, Sendable {
    case add(DistinguishedName, [Attribute])
    case modify(DistinguishedName, [Modification])
    case delete(DistinguishedName)

    package var dn: DistinguishedName {
        switch self {
        case .add(let dn, _), .modify(let dn, _), .delete(let dn): return dn
        }
    }
    var name: String {
        switch self {
        case .add: return "add"
        case .modify: return "modify"
        case .delete: return "delete"
        }
    }
    /// Whether the RFC 4527 post-read control applies (an add or a modify leaves an entry to read).
    var leavesEntry: Bool {
        if case .delete = self { return false }
        return true
    }
}

/// An entry read by a search, copied out of libldap's memory.
package struct Entry: Hashable, Sendable {
    package let dn: DistinguishedName
    /// Attributes in the order the server sent them, names as the server spelled them.
    package let attributes: [Attribute]

    package init(dn: DistinguishedName, attributes: [Attribute]) {
        self.dn = dn
        self.attributes = attributes
    }

    /// The values of `name` (compared case-insensitively, as LDAP attribute names are),
    /// or an empty array.
    package subscript(_ name: String) -> [String] {
        let lowered = name.lowercased()
        return attributes.first { $0.name.lowercased() == lowered }?.values ?? []
    }
}

/// The scope of a search.
package enum SearchScope: Sendable {
    case base, oneLevel, subtree
}

/// A password, kept out of descriptions, logs and errors.
package struct Password: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let value: String
    package init(_ value: String) { self.value = value }
    package var description: String { "<redacted>" }
    package var debugDescription: String { "<redacted>" }
}

/// How to authenticate after connecting.
package enum Credentials: Sendable {
    /// No bind.
    case anonymous
    /// A simple bind with a DN and a password.
    case simple(dn: String, password: Password)
    /// A SASL bind with a mechanism that needs no password from us: EXTERNAL (ldapi peer
    /// credentials or a TLS client certificate) or GSSAPI (a Kerberos credential cache).
    /// `authorizationID` is the optional identity to assume ("dn:..." or "u:...").
    case sasl(mechanism: String, authorizationID: String? = nil)
}

/// Whether and how the server's TLS certificate is checked.
package enum CertificateVerification: Sendable {
    /// Require a certificate that chains to a trusted CA and names the host (the default).
    case demand
    /// Do not check the certificate. Only for an operator who asks for it in so many words.
    case never
}
