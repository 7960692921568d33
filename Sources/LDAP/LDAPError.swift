/// A failed LDAP operation: the result code, the server's diagnostic message and matched DN,
/// and which operation on which entry failed.
///
/// Built only from what the server or libldap said and from the DN; it never holds a
/// password or any attribute value, so it is safe to print and to log.
package struct LDAPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The result code (server) or libldap's client-side code.
    package var code: LDAPResultCode
    /// The server's diagnostic message (or libldap's), if any.
    package var diagnosticMessage: String?
    /// The matched DN the server returned for a `noSuchObject`, if any.
    package var matchedDN: String?
    /// The operation that failed, e.g. `add`, `bind`, `search`.
    package var operation: String
    /// The DN the operation was about, if any.
    package var dn: String?

    package init(
        code: LDAPResultCode, operation: String, dn: String? = nil,
        diagnosticMessage: String? = nil, matchedDN: String? = nil
    ) {
        self.code = code
        self.operation = operation
        self.dn = dn
        self.diagnosticMessage = diagnosticMessage.flatMap { $0.isEmpty ? nil : $0 }
        self.matchedDN = matchedDN.flatMap { $0.isEmpty ? nil : $0 }
    }

    package var description: String {
        var text = "LDAP \(operation)"
        if let dn { text += " \"\(dn)\"" }
        text += " failed: \(code)"
        if let diagnosticMessage { text += ": \(diagnosticMessage)" }
        if let matchedDN { text += " (matched DN: \(matchedDN))" }
        return text
    }
}
