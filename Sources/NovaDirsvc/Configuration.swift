#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import LDAP

/// Connection and logging settings, resolved from (highest first) command-line flags, the
/// environment (`NOVA_DIRSVC_*`), the configuration file (INI, default
/// /etc/nova-dirsvc/nova-dirsvc.conf), and libldap's own ldap.conf (URI, BASE, TLS_CACERT).
///
///     [ldap]
///     uri = ldaps://ds1.example.com ldaps://ds2.example.com
///     bind_dn = uid=nova-dirsvc,ou=Services,dc=example,dc=com
///     password_file = /etc/nova-dirsvc/password
///     base_dn = ou=Instances,dc=example,dc=com
///     ca_cert = /etc/pki/tls/certs/ca.pem
///     start_tls = false
///     # sasl_mech = EXTERNAL
///     timeout = 5
///     [DEFAULT]
///     log_file = /var/log/nova-dirsvc/events.log
public struct Configuration: Sendable {
    public var uris: [String]
    public var bindDN: String?
    public var passwordFile: String?
    public var baseDN: DistinguishedName
    public var caCertificateFile: String?
    public var startTLS: Bool
    public var saslMechanism: String?
    /// The time budget of one command's directory work (all URIs together).
    public var timeout: Duration
    public var logFile: String?
    public var allowInsecureBind: Bool
    public var verifyTLS: Bool
    /// Where events wait when the directory is unavailable.
    public var spoolDirectory: String

    public static let defaultConfigFile = "/etc/nova-dirsvc/nova-dirsvc.conf"
    public static let defaultLogFile = "/var/log/nova-dirsvc/events.log"
    public static let defaultTimeout = 5.0
    /// A flush's budget, in multiples of `timeout` (so 60 s by default).
    public static let flushBudgetFactor = 12

    /// The time budget of a `flush`: what it leaves when this runs out stays queued.
    public var flushBudget: Duration { timeout * Self.flushBudgetFactor }

    /// One source's settings; nil means "not set here".
    public struct Settings: Sendable {
        public var uris: [String]?
        public var bindDN: String?
        public var passwordFile: String?
        public var baseDN: String?
        public var caCertificateFile: String?
        public var startTLS: Bool?
        public var saslMechanism: String?
        public var timeout: Double?
        public var logFile: String?
        public var allowInsecureBind: Bool?
        public var insecureNoTLSVerify: Bool?
        public var spoolDirectory: String?
        public init() {}

        /// Self where set, `fallback` elsewhere.
        func over(_ fallback: Settings) -> Settings {
            var merged = Settings()
            merged.uris = uris ?? fallback.uris
            merged.bindDN = bindDN ?? fallback.bindDN
            merged.passwordFile = passwordFile ?? fallback.passwordFile
            merged.baseDN = baseDN ?? fallback.baseDN
            merged.caCertificateFile = caCertificateFile ?? fallback.caCertificateFile
            merged.startTLS = startTLS ?? fallback.startTLS
            merged.saslMechanism = saslMechanism ?? fallback.saslMechanism
            merged.timeout = timeout ?? fallback.timeout
            merged.logFile = logFile ?? fallback.logFile
            merged.allowInsecureBind = allowInsecureBind ?? fallback.allowInsecureBind
            merged.insecureNoTLSVerify = insecureNoTLSVerify ?? fallback.insecureNoTLSVerify
            merged.spoolDirectory = spoolDirectory ?? fallback.spoolDirectory
            return merged
        }
    }

    /// Resolves the configuration. `configFile`: the --config flag (a missing file is then an
    /// error); otherwise NOVA_DIRSVC_CONFIG or the default path, which may be absent.
    public static func resolve(flags: Settings, configFile: String?,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Configuration {
        let environmentSettings = try Self.settings(fromEnvironment: environment)
        let explicitFile = configFile ?? environment["NOVA_DIRSVC_CONFIG"]
        let path = explicitFile ?? defaultConfigFile
        var fileSettings = Settings()
        if FileManager.default.fileExists(atPath: path) || explicitFile != nil {
                if let problem = POSIX.fileProblem(path) {
                throw ConfigurationError("cannot read the configuration file \(path): \(problem)")
            }
            guard let data = POSIX.read(path: path, limit: 1 << 20), let text = String(validating: data, as: UTF8.self) else {
                throw ConfigurationError("cannot read the configuration file \(path): not UTF-8 text")
            }
            fileSettings = try settings(fromINI: text, path: path)
        }
        var ldapConf = Settings()
        ldapConf.uris = LDAPDefaults.uris.isEmpty ? nil : LDAPDefaults.uris
        ldapConf.baseDN = LDAPDefaults.baseDN
        let merged = flags.over(environmentSettings.over(fileSettings.over(ldapConf)))

        guard let base = merged.baseDN else {
            throw ConfigurationError("no base DN: set --base-dn, NOVA_DIRSVC_BASE_DN, base_dn in [ldap], or BASE in ldap.conf")
        }
        let baseDN: DistinguishedName
        do { baseDN = try DistinguishedName(validating: base) }
        catch { throw ConfigurationError("base DN \"\(base)\" is not a valid distinguished name") }
        guard !baseDN.string.isEmpty else { throw ConfigurationError("the base DN must not be the root DSE") }
        let timeout = merged.timeout ?? defaultTimeout
        guard timeout > 0, timeout <= 3600 else {
            throw ConfigurationError("timeout must be more than 0 and at most 3600 seconds (got \(timeout))")
        }
        let configuration = Configuration(
            uris: merged.uris ?? [], bindDN: merged.bindDN, passwordFile: merged.passwordFile, baseDN: baseDN,
            caCertificateFile: merged.caCertificateFile, startTLS: merged.startTLS ?? false,
            saslMechanism: merged.saslMechanism, timeout: .milliseconds(Int64((timeout * 1000).rounded())), logFile: merged.logFile ?? defaultLogFile,
            allowInsecureBind: merged.allowInsecureBind ?? false, verifyTLS: !(merged.insecureNoTLSVerify ?? false),
            spoolDirectory: merged.spoolDirectory ?? Spool.defaultDirectory)
        for uri in configuration.uris {
            guard ["ldap://", "ldaps://", "ldapi://"].contains(where: { uri.lowercased().hasPrefix($0) }) else {
                throw ConfigurationError("URI \"\(uri)\" is not ldap://, ldaps:// or ldapi://")
            }
        }
        return configuration
    }

    /// Every setting the environment and the file can carry, by its key in the file
    /// (`[ldap]` or `[DEFAULT]`), which upper-cased is also its environment variable
    /// (`uri` -> `NOVA_DIRSVC_URI`).
    static let keys = ["uri", "bind_dn", "password_file", "base_dn", "ca_cert", "start_tls", "sasl_mech", "timeout",
                       "log_file", "spool_dir", "allow_insecure_bind", "insecure_no_tls_verify"]

    /// Sets one setting from its text; `source` names where it came from in error messages.
    private static func apply(_ key: String, _ text: String, to settings: inout Settings, source: String) throws {
        switch key {
        case "uri": settings.uris = splitURIs(text)
        case "bind_dn": settings.bindDN = text
        case "password_file": settings.passwordFile = text
        case "base_dn": settings.baseDN = text
        case "ca_cert": settings.caCertificateFile = text
        case "start_tls": settings.startTLS = try bool(text, source)
        case "sasl_mech": settings.saslMechanism = text
        case "timeout": settings.timeout = try seconds(text, source)
        case "log_file": settings.logFile = text
        case "spool_dir": settings.spoolDirectory = text
        case "allow_insecure_bind": settings.allowInsecureBind = try bool(text, source)
        case "insecure_no_tls_verify": settings.insecureNoTLSVerify = try bool(text, source)
        default: preconditionFailure("unknown setting \(key)")
        }
    }

    private static func settings(_ value: (String) -> String?, source: (String) -> String) throws -> Settings {
        var settings = Settings()
        for key in keys {
            if let text = value(key) { try apply(key, text, to: &settings, source: source(key)) }
        }
        return settings
    }

    static func settings(fromEnvironment environment: [String: String]) throws -> Settings {
        let name = { (key: String) in "NOVA_DIRSVC_" + key.uppercased() }
        return try settings({ environment[name($0)].flatMap { $0.isEmpty ? nil : $0 } }, source: name)
    }

    static func settings(fromINI text: String, path: String) throws -> Settings {
        var section = "DEFAULT"
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmed
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = line.dropFirst().dropLast().trimmed
                continue
            }
            guard let equals = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw ConfigurationError("\(path):\(number + 1): expected `key = value`")
            }
            let key = line[..<equals].trimmed.lowercased()
            let value = line[line.index(after: equals)...].trimmed
            values["\(section.lowercased()).\(key)"] = value
        }
        return try settings({ values["ldap.\($0)"] ?? values["default.\($0)"] }, source: { "\($0) in \(path)" })
    }

    static func splitURIs(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }).map(String.init)
    }

    static func bool(_ text: String, _ name: String) throws -> Bool {
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError("\(name): \"\(text)\" is not true or false")
        }
    }

    static func seconds(_ text: String, _ name: String) throws -> Double {
        guard let value = Double(text), value.isFinite else { throw ConfigurationError("\(name): \"\(text)\" is not a number of seconds") }
        return value
    }

    // MARK: - Connecting

    public var connectionConfiguration: LDAPConnection.Configuration {
        LDAPConnection.Configuration(uris: uris, networkTimeout: timeout, operationTimeout: timeout, startTLS: startTLS,
                                caCertificateFile: caCertificateFile,
                                certificateVerification: verifyTLS ? .demand : .never)
    }

    /// The credentials: SASL if a mechanism is set, else a simple bind if a bind DN is set
    /// (password from the password file or NOVA_DIRSVC_PASSWORD), else anonymous.
    public func credentials(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Credentials {
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
            throw ConfigurationError("refusing a simple bind with a password over unencrypted \(uri): use ldaps://, --start-tls, or --allow-insecure-bind")
        }
    }

    /// Whether an ldap:// URI names this machine: an address literal in 127.0.0.0/8, ::1,
    /// `localhost`, or no host (libldap's default, localhost). A name that merely starts with
    /// "127." (127.evil.example.com) is not loopback.
    static func isLoopback(_ uri: String) -> Bool {
        let rest = uri.dropFirst("ldap://".count)
        var host = String(rest.prefix { $0 != "/" })
        if host.hasPrefix("[") { host = String(host.dropFirst().prefix { $0 != "]" }) }
        else if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        if host.isEmpty || host.lowercased() == "localhost" { return true }
        var v4 = in_addr(), v6 = in6_addr()
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

    /// Reads a password file: refused when other users can read it; one trailing newline dropped.
    static func readPasswordFile(_ path: String) throws -> String {
        var info = stat()
        if let problem = POSIX.fileProblem(path) { throw ConfigurationError("cannot read the password file \(path): \(problem)") }
        guard stat(path, &info) == 0 else { throw ConfigurationError("cannot read the password file \(path): \(POSIX.errorText)") }
        guard info.st_mode & S_IROTH == 0 && info.st_mode & S_IWOTH == 0 else {
            throw ConfigurationError("the password file \(path) is readable or writable by other users (mode \(String(info.st_mode & 0o777, radix: 8))): chmod o-rwx it")
        }
        guard var bytes = POSIX.read(path: path, limit: 65536).map(Array.init) else {
            throw ConfigurationError("cannot read the password file \(path): \(POSIX.errorText)")
        }
        // one line ending dropped, "\n" or "\r\n" (bytes: in a Swift String "\r\n" is one Character)
        if bytes.last == 0x0A { bytes.removeLast() }
        if bytes.last == 0x0D { bytes.removeLast() }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationError("the password file \(path) is not UTF-8 text")
        }
        guard !text.isEmpty else { throw ConfigurationError("the password file \(path) is empty") }
        return text
    }
}

/// A usage or configuration problem (exit status 64).
public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmed: String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(self[first...last])
    }
}
