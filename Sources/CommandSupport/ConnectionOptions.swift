import ArgumentParser
import NovaDirsvc

/// The connection options every command that talks to the directory takes (the CLI's and
/// `nova-dirsvc serve`'s).
package struct ConnectionOptions: ParsableArguments {
    package init() {}

    @Option(help: ArgumentHelp("Configuration file (INI).", valueName: "path"))
    package var config: String?

    @Option(help: ArgumentHelp("LDAP URI (ldap://, ldaps://, ldapi://); repeat to list servers tried in order.", valueName: "uri"))
    package var uri: [String] = []

    @Option(name: .customLong("bind-dn"), help: ArgumentHelp("DN for a simple bind.", valueName: "dn"))
    package var bindDN: String?

    @Option(
        help: ArgumentHelp("File holding the bind password (not readable by other users). Or set NOVA_DIRSVC_PASSWORD.", valueName: "path"))
    package var passwordFile: String?

    @Option(
        name: .customLong("base-dn"),
        help: ArgumentHelp("The container of instance entries, e.g. ou=Instances,dc=example,dc=com.", valueName: "dn"))
    package var baseDN: String?

    @Option(help: ArgumentHelp("PEM file of the CA certificate(s) that sign the server's certificate.", valueName: "path"))
    package var caCert: String?

    @Flag(help: "Issue StartTLS on ldap:// (a failure is an error, never a plaintext fallback).")
    package var startTLS = false

    @Option(
        help: ArgumentHelp("SASL mechanism instead of a simple bind: EXTERNAL (ldapi, client certificate) or GSSAPI.", valueName: "mech"))
    package var saslMech: String?

    @Option(
        help: ArgumentHelp(
            "Least security strength (bits) a SASL bind must end with, from TLS or GSSAPI's own layer (default 56; 0 allows clear text).",
            valueName: "bits"))
    package var saslSSFMin: Int?

    @Option(help: ArgumentHelp("Time budget in seconds for connecting and each operation (default 5).", valueName: "seconds"))
    package var timeout: Double?

    @Option(help: ArgumentHelp("Event log (JSON lines) (default \(Configuration.defaultLogFile)).", valueName: "path"))
    package var logFile: String?

    @Option(
        help: ArgumentHelp("Where events wait while the directory is unavailable (default \(Spool.defaultDirectory)).", valueName: "path"))
    package var spoolDir: String?

    @Flag(help: "Allow a simple bind over unencrypted ldap:// to a host other than loopback.")
    package var allowInsecureBind = false

    @Flag(help: "Do not verify the server's TLS certificate. Insecure: for testing only.")
    package var insecureNoTLSVerify = false

    package func resolve(strict: Bool = false) throws -> Configuration {
        var flags = Configuration.Settings()
        flags[.uri] = uri.isEmpty ? nil : uri.joined(separator: " ")
        flags[.bindDN] = bindDN
        flags[.passwordFile] = passwordFile
        flags[.baseDN] = baseDN
        flags[.caCert] = caCert
        flags[.startTLS] = startTLS ? "true" : nil
        flags[.saslMech] = saslMech
        flags[.saslSSFMin] = saslSSFMin.map { "\($0)" }
        flags[.timeout] = timeout.map { "\($0)" }
        flags[.logFile] = logFile
        flags[.spoolDir] = spoolDir
        flags[.allowInsecureBind] = allowInsecureBind ? "true" : nil
        flags[.insecureNoTLSVerify] = insecureNoTLSVerify ? "true" : nil
        let configuration = try Configuration.resolve(flags: flags, configFile: config, strict: strict)
        for warning in configuration.warnings { warn("warning: \(warning)") }
        return configuration
    }
}

/// Values only, once parsed (ArgumentParser's property wrappers are not marked Sendable):
/// serve's SIGHUP reload resolves them again on another thread.
extension ConnectionOptions: @unchecked Sendable {}
