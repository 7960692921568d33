extension LDAPConnection {
    /// Where and how to connect.
    package struct Configuration: Sendable {
        /// ldap://, ldaps:// or ldapi:// URIs, tried in order by libldap when connecting.
        /// Empty: libldap's default (URI in ldap.conf / LDAPURI).
        package var uris: [String]
        /// How long to wait for a TCP connection to be established (per URI).
        package var networkTimeout: Duration
        /// How long to wait for the answer to any one request (bind, StartTLS, each message).
        package var operationTimeout: Duration
        /// Issue StartTLS (RFC 4513) after connecting over ldap://; failure is an error, never a
        /// fallback to plaintext.
        package var startTLS: Bool
        /// PEM file with the CA certificate(s) to trust. nil: libldap's default (TLS_CACERT in
        /// ldap.conf, LDAPTLS_CACERT).
        package var caCertificateFile: String?
        /// Certificate verification; `.demand` unless the operator explicitly turned it off.
        package var certificateVerification: CertificateVerification
        /// The least security strength (bits) a SASL bind must end with, from TLS or the SASL
        /// mechanism's own security layer (GSSAPI's): 0 accepts a connection in clear.
        package var saslMinimumSSF = 56

        package init(
            uris: [String], networkTimeout: Duration = .seconds(5), operationTimeout: Duration = .seconds(10),
            startTLS: Bool = false, caCertificateFile: String? = nil,
            certificateVerification: CertificateVerification = .demand
        ) {
            self.uris = uris
            self.networkTimeout = networkTimeout
            self.operationTimeout = operationTimeout
            self.startTLS = startTLS
            self.caCertificateFile = caCertificateFile
            self.certificateVerification = certificateVerification
        }

        /// Whether any connection made with this configuration can use TLS (ldaps:// or StartTLS).
        /// libldap's defaults (REQUIRE_CERT demand, ldap.conf's TLS_CACERT) apply otherwise too.
        var usesTLS: Bool {
            startTLS || caCertificateFile != nil || certificateVerification == .never
                || uris.isEmpty || uris.contains { $0.lowercased().hasPrefix("ldaps://") }
        }
    }
}
