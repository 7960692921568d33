import Glibc

/// A SASL bind that failed on the client's side: libldap and Cyrus SASL could not make the
/// mechanism's credentials, so the server never judged them. For GSSAPI (Kerberos): the client
/// keytab missing or empty, a principal the KDC does not know, the directory's service
/// principal unknown (a wrong host name, `nsslapd-localhost`), a credential cache that cannot
/// be written, no security layer as strong as the minimum; or a mechanism the client does not
/// have. libldap reports all of these as its localError (-2) or authUnknown (-6), which once
/// read as "the directory is unavailable" (events queued for ever, exit 75): they are the
/// caller's setup. The message names what the operator checks: the keytab and its principal,
/// the credential cache, with GSSAPI's own words.
package struct SASLClientError: Error, Sendable, CustomStringConvertible {
    /// The client-side codes that mean this (a server's refusal comes with its own code).
    package static let codes: Set<LDAPResultCode> = [.localError, .authUnknown, .paramError, .notSupported]

    package let mechanism: String
    package let error: LDAPError
    package let minimumSSF: Int

    package init(mechanism: String, error: LDAPError, minimumSSF: Int) {
        self.mechanism = mechanism
        self.error = error
        self.minimumSSF = minimumSSF
    }

    /// The mechanism is not available to the client (no SASL plugin for it): a setting.
    package var isMissingMechanism: Bool { error.code == .authUnknown || error.code == .notSupported }

    package var description: String {
        var text = "SASL \(mechanism) bind failed on this side (\(error.code))"
        if let message = error.diagnosticMessage { text += ": \(message)" }
        if mechanism.uppercased() == "GSSAPI" { text += "; " + Self.kerberosContext(minimumSSF: minimumSSF) }
        return text
    }

    /// Where the Kerberos credentials come from, as MIT Kerberos takes them.
    static func kerberosContext(minimumSSF: Int) -> String {
        let environment = { (name: String) -> String? in getenv(name).map { String(cString: $0) } }
        let keytab =
            environment("KRB5_CLIENT_KTNAME") ?? "/var/lib/krb5/user/\(geteuid())/client.keytab (the default; set KRB5_CLIENT_KTNAME)"
        var text = "client keytab \(keytab)"
        if let principal = KeytabPrincipal.first(in: keytab) { text += " (principal \(principal))" }
        text += ", credential cache \(environment("KRB5CCNAME") ?? "the default (KRB5CCNAME unset)")"
        text += ", minimum strength \(minimumSSF) (sasl_ssf_min)"
        return text
    }
}

/// The first principal of a keytab file (MIT's format, version 0x502: big-endian entries of a
/// component count, realm and components as counted strings): what `klist -k` prints, read
/// without the Kerberos library. Nil for anything else (a missing file, another format).
enum KeytabPrincipal {
    static func first(in name: String) -> String? {
        let path = name.hasPrefix("FILE:") ? String(name.dropFirst(5)) : name
        guard !path.contains(" "), let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = fread(&bytes, 1, bytes.count, file)
        guard count >= 12, bytes[0] == 5, bytes[1] == 2 else { return nil }
        var offset = 6  // version (2) and the first entry's size (4)
        func u16() -> Int? {
            guard offset + 2 <= count else { return nil }
            defer { offset += 2 }
            return Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
        }
        func counted() -> String? {
            guard let length = u16(), offset + length <= count else { return nil }
            defer { offset += length }
            return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
        }
        guard let components = u16(), components > 0, components < 16, let realm = counted() else { return nil }
        var names: [String] = []
        for _ in 0..<components {
            guard let name = counted() else { return nil }
            names.append(name)
        }
        return names.joined(separator: "/") + "@" + realm
    }
}
