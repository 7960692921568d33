import Glibc
import LDAP

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension Configuration {
    /// What the processes of this machine know about the servers (beside the spool).
    var serverHealth: ServerHealth {
        ServerHealth(spoolDirectory: spoolDirectory, backoff: serverBackoff, settle: failbackSettle)
    }

    /// The writes a server took without answering (beside the spool).
    var inDoubtLedger: InDoubtLedger { InDoubtLedger(spoolDirectory: spoolDirectory) }

    package var connectionConfiguration: LDAPConnection.Configuration {
        var settings = LDAPConnection.Configuration(
            uris: uris, networkTimeout: timeout, operationTimeout: timeout, startTLS: startTLS,
            caCertificateFile: caCertificateFile,
            certificateVerification: verifyTLS ? .demand : .never)
        settings.saslMinimumSSF = saslMinimumSSF
        return settings
    }

    /// The credentials: SASL if a mechanism is set, else a simple bind if a bind DN is set
    /// (password from the password file or NOVA_DIRSVC_PASSWORD), else anonymous.
    package func credentials(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Credentials {
        if let saslMechanism { return .sasl(mechanism: saslMechanism.uppercased()) }
        guard let bindDN else { return .anonymous }
        let password: String
        if let passwordFile {
            password = try Self.readPasswordFile(passwordFile)
        } else if let fromEnvironment = environment["NOVA_DIRSVC_PASSWORD"], !fromEnvironment.isEmpty {
            password = fromEnvironment
        } else {
            throw ConfigurationError("a bind DN is set but no password: use --password-file or NOVA_DIRSVC_PASSWORD")
        }
        try checkBindIsProtected()
        return .simple(dn: bindDN, password: Password(password))
    }

    /// A simple bind sends the password as it is: refuse it over an unencrypted connection to
    /// anything but loopback or ldapi, unless the operator allowed it.
    func checkBindIsProtected() throws {
        if allowInsecureBind || startTLS { return }
        for uri in uris where uri.lowercased().hasPrefix("ldap://") && !Self.isLoopback(uri) {
            throw ConfigurationError(
                "refusing a simple bind with a password over unencrypted \(uri): use ldaps://, --start-tls, or --allow-insecure-bind")
        }
    }

    /// Whether an ldap:// URI names this machine: an address literal in 127.0.0.0/8, ::1,
    /// `localhost`, or no host (libldap's default, localhost). A name that merely starts with
    /// "127." (127.evil.example.com) is not loopback.
    static func isLoopback(_ uri: String) -> Bool {
        let rest = uri.dropFirst("ldap://".count)
        var host = String(rest.prefix { $0 != "/" })
        if host.hasPrefix("[") {
            host = String(host.dropFirst().prefix { $0 != "]" })
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        if host.isEmpty || host.lowercased() == "localhost" { return true }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { bytes in bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1 }
        }
        return false
    }

    /// The files a connection needs must be there: a CA certificate that is missing or a
    /// folder is the operator's mistake (64), not an unavailable directory.
    func checkFiles() throws {
        if let caCertificateFile, let problem = POSIX.fileProblem(caCertificateFile) {
            throw ConfigurationError("cannot use the CA certificate file \(caCertificateFile): \(problem)")
        }
    }

    /// Reads a file holding a secret (a password, a transport URL): refused when other users
    /// can read it; one trailing newline dropped.
    static func readPasswordFile(_ path: String, what: String = "password file") throws -> String {
        try readSecretFile(path, what: what)
    }

    /// `readPasswordFile` for the other layers (the HTTP side's token and users).
    package static func readSecretFile(_ path: String, what: String) throws -> String {
        var info = stat()
        if let problem = POSIX.fileProblem(path) { throw ConfigurationError("cannot read the \(what) \(path): \(problem)") }
        guard stat(path, &info) == 0 else { throw ConfigurationError("cannot read the \(what) \(path): \(POSIX.errorText)") }
        guard info.st_mode & S_IROTH == 0 && info.st_mode & S_IWOTH == 0 else {
            throw ConfigurationError(
                "the \(what) \(path) is readable or writable by other users (mode \(String(info.st_mode & 0o777, radix: 8))): chmod o-rwx it"
            )
        }
        guard var bytes = POSIX.read(path: path, limit: 65536).map(Array.init) else {
            throw ConfigurationError("cannot read the \(what) \(path): \(POSIX.errorText)")
        }
        // one line ending dropped, "\n" or "\r\n" (bytes: in a Swift String "\r\n" is one Character)
        if bytes.last == 0x0A { bytes.removeLast() }
        if bytes.last == 0x0D { bytes.removeLast() }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationError("the \(what) \(path) is not UTF-8 text")
        }
        guard !text.isEmpty else { throw ConfigurationError("the \(what) \(path) is empty") }
        return text
    }
}

/// A usage or configuration problem (exit status 64).
package struct ConfigurationError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
