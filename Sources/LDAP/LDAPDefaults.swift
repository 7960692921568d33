import CLDAP

/// libldap's own defaults, read the way libldap reads them (ldap.conf, ~/.ldaprc, LDAPURI,
/// LDAPBASE, ...), so a program honours the same settings as ldapsearch.
package enum LDAPDefaults {
    /// BASE: the default search base, if configured.
    package static var baseDN: String? { string(LDAP_OPT_DEFBASE) }
    /// URI: the default server URIs (space-separated), if configured.
    package static var uris: [String] { string(LDAP_OPT_URI)?.split(separator: " ").map(String.init) ?? [] }

    /// A global string option (ldap.conf / environment), or nil.
    static func string(_ option: Int32) -> String? {
        var value: UnsafeMutablePointer<CChar>? = nil
        guard ldap_get_option(nil, option, &value) == LDAP_OPT_SUCCESS, let value else { return nil }
        defer { ldap_memfree(value) }
        let string = String(cString: value)
        return string.isEmpty ? nil : string
    }
}
