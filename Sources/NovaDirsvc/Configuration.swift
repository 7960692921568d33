import LDAP

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

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
///     # sasl_ssf_min = 56
///     timeout = 5
///     [DEFAULT]
///     log_file = /var/log/nova-dirsvc/events.log
///
/// Every setting is one case of `Key`: its name in the file, its environment variable and its
/// flag all derive from it, and its `declaration` (Configuration+Declarations.swift) holds its
/// kind, default and meaning. Each source is read into the same `Settings` (text, with where it
/// came from), merged, then parsed once here.
package struct Configuration: Sendable {
    package var uris: [String]
    package var bindDN: String?
    package var passwordFile: String?
    package var baseDN: DistinguishedName
    package var caCertificateFile: String?
    package var startTLS: Bool
    package var saslMechanism: String?
    /// The least security strength a SASL bind must end with (TLS's, or GSSAPI's own layer):
    /// 56 by default, so that GSSAPI over ldap:// without StartTLS never binds in clear.
    package var saslMinimumSSF: Int
    /// The SASL mechanisms nova-dirsvc is built and tested for.
    package static let saslMechanisms = ["EXTERNAL", "GSSAPI"]
    /// The time budget of one command's directory work (all URIs together).
    package var timeout: Duration
    package var logFile: String?
    package var allowInsecureBind: Bool
    package var verifyTLS: Bool
    /// Where events wait when the directory is unavailable.
    package var spoolDirectory: String
    /// How long a server that failed is passed over (several URIs; see `ServerHealth`).
    package var serverBackoff: Duration
    /// How long after a failover the servers before the one that answered must go without a
    /// failure before nova-dirsvc fails back to them.
    package var failbackSettle: Duration
    /// The message bus `nova-dirsvc serve` follows (`[amqp]`); nil when no transport URL is set.
    package var bus: Bus?
    /// The HTTP side of `nova-dirsvc serve` (`[http]`); nil when no `listen` is set.
    package var http: HTTP?
    /// Nova's API through Keystone (`[nova]`), for `reconcile --from-nova`; nil when `auth_url` is not set.
    package var nova: Nova?
    /// What was odd but not wrong (an unknown key or section in the file), for the caller to show.
    package var warnings: [String] = []

    package static let defaultConfigFile = "/etc/nova-dirsvc/nova-dirsvc.conf"
    /// A flush's budget, in multiples of `timeout` (so 60 s by default).
    package static let flushBudgetFactor = 12

    /// The time budget of a `flush`: what it leaves when this runs out stays queued.
    package var flushBudget: Duration { timeout * Self.flushBudgetFactor }

    /// Every setting. The directory's keys live in `[ldap]` (or `[DEFAULT]`) under their raw
    /// value; the bus's (`amqp_*`, see `Configuration+Bus.swift`) in `[amqp]` without the prefix.
    package enum Key: String, CaseIterable, Sendable {
        case uri
        case baseDN = "base_dn"
        case bindDN = "bind_dn"
        case passwordFile = "password_file"
        case caCert = "ca_cert"
        case startTLS = "start_tls"
        case saslMech = "sasl_mech"
        case saslSSFMin = "sasl_ssf_min"
        case timeout
        case logFile = "log_file"
        case spoolDir = "spool_dir"
        case allowInsecureBind = "allow_insecure_bind"
        case insecureNoTLSVerify = "insecure_no_tls_verify"
        case serverBackoff = "server_backoff"
        case failbackSettle = "failback_settle"
        case amqpTransportURLFile = "amqp_transport_url_file"
        case amqpTransportURL = "amqp_transport_url"
        case amqpExchange = "amqp_exchange"
        case amqpTopics = "amqp_topics"
        case amqpPriorities = "amqp_priorities"
        case amqpQueue = "amqp_queue"
        case amqpQueueType = "amqp_queue_type"
        case amqpDeliveryLimit = "amqp_delivery_limit"
        case amqpDeadLetterQueue = "amqp_dead_letter_queue"
        case amqpMaxMessageBytes = "amqp_max_message_bytes"
        case amqpSingleActiveConsumer = "amqp_single_active_consumer"
        case amqpPrefetch = "amqp_prefetch"
        case amqpHeartbeat = "amqp_heartbeat"
        case amqpSSL = "amqp_ssl"
        case amqpCACert = "amqp_ca_cert"
        case amqpDeclareExchange = "amqp_declare_exchange"
        case amqpDurable = "amqp_durable"
        case amqpAutoDelete = "amqp_auto_delete"
        case httpListen = "http_listen"
        case httpTokenFile = "http_token_file"
        case httpBasicAuthFile = "http_basic_auth_file"
        case httpTLSCert = "http_tls_cert"
        case httpTLSKey = "http_tls_key"
        case httpAllowInsecureListen = "http_allow_insecure_listen"
        case httpMaxInFlight = "http_max_in_flight"
        case novaAuthURL = "nova_auth_url"
        case novaAuthType = "nova_auth_type"
        case novaUsername = "nova_username"
        case novaUserID = "nova_user_id"
        case novaPassword = "nova_password"
        case novaPasswordFile = "nova_password_file"
        case novaUserDomainName = "nova_user_domain_name"
        case novaUserDomainID = "nova_user_domain_id"
        case novaProjectName = "nova_project_name"
        case novaProjectID = "nova_project_id"
        case novaProjectDomainName = "nova_project_domain_name"
        case novaProjectDomainID = "nova_project_domain_id"
        case novaApplicationCredentialID = "nova_application_credential_id"
        case novaApplicationCredentialName = "nova_application_credential_name"
        case novaApplicationCredentialSecret = "nova_application_credential_secret"
        case novaApplicationCredentialSecretFile = "nova_application_credential_secret_file"
        case novaRegionName = "nova_region_name"
        case novaInterface = "nova_interface"
        case novaCAFile = "nova_cafile"
        case novaInsecure = "nova_insecure"
        case novaPageSize = "nova_page_size"
        case novaTimeout = "nova_timeout"
        case novaReconcileInterval = "nova_reconcile_interval"
        case novaReconcileGrace = "nova_reconcile_grace"

        /// `[ldap]` (also `[DEFAULT]`), `[amqp]`, `[http]`, `[nova]`: the keys of the last three
        /// carry the section as a prefix (`amqp_transport_url` is `transport_url` in `[amqp]`).
        package enum Section: String, Sendable, CaseIterable { case ldap, amqp, http, nova }

        /// The section of the file it belongs in.
        package var section: Section {
            Section.allCases.first { $0 != .ldap && rawValue.hasPrefix($0.rawValue + "_") } ?? .ldap
        }
        /// Its name inside its section: `amqp_transport_url` -> `transport_url`.
        package var name: String { section == .ldap ? rawValue : String(rawValue.dropFirst(section.rawValue.count + 1)) }
        /// The key named `name` in `section`.
        init?(section: Section, name: String) {
            self.init(rawValue: section == .ldap ? name : section.rawValue + "_" + name)
            if self.section != section { return nil }
        }

        /// `uri` -> `NOVA_DIRSVC_URI`; `amqp_transport_url` -> `NOVA_DIRSVC_AMQP_TRANSPORT_URL`.
        package var environmentVariable: String { "NOVA_DIRSVC_" + rawValue.uppercased() }
        /// `bind_dn` -> `--bind-dn` (the bus's settings have no flags: a transport URL holds a password).
        package var flag: String { "--" + rawValue.replacing("_", with: "-") }
    }

    /// One source's settings as text, each with where it came from; a key not set is absent.
    package struct Settings: Sendable {
        var values: [Key: (text: String, source: String)] = [:]
        let source: @Sendable (Key) -> String

        package init(source: @escaping @Sendable (Key) -> String = { $0.flag }) { self.source = source }

        package subscript(key: Key) -> String? {
            get { values[key]?.text }
            set { values[key] = newValue.map { ($0, source(key)) } }
        }

        /// Where the key's value came from (`--timeout`, `timeout in [ldap] of PATH`, ...), or its name.
        package func origin(_ key: Key) -> String { values[key]?.source ?? key.rawValue }

        /// Self where set, `fallback` elsewhere.
        func over(_ fallback: Settings) -> Settings {
            var merged = fallback
            merged.values.merge(values) { _, mine in mine }
            return merged
        }
    }

    /// Resolves the configuration. `configFile`: the --config flag (a missing file is then an
    /// error); otherwise NOVA_DIRSVC_CONFIG or the default path, which may be absent.
    /// `strict`: an unknown key or section in the file is an error, not a warning (`check-config`).
    package static func resolve(
        flags: Settings, configFile: String?, strict: Bool = false,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Configuration {
        var fromEnvironment = Settings(source: { $0.environmentVariable })
        for key in Key.allCases {
            if let text = environment[key.environmentVariable], !text.isEmpty { fromEnvironment[key] = text }
        }
        let explicitFile = configFile ?? environment["NOVA_DIRSVC_CONFIG"]
        let path = explicitFile ?? defaultConfigFile
        var file = ConfigurationFile(settings: Settings(), warnings: [])
        if explicitFile != nil || POSIX.fileProblem(path) != "it does not exist" {
            file = try ConfigurationFile.read(path)
        }
        var ldapConf = Settings(source: { _ in "ldap.conf" })
        ldapConf[.uri] = LDAPDefaults.uris.isEmpty ? nil : LDAPDefaults.uris.joined(separator: " ")
        ldapConf[.baseDN] = LDAPDefaults.baseDN
        if strict, !file.warnings.isEmpty {
            throw ConfigurationError(file.warnings.joined(separator: "\n"))
        }
        for key in [Key.novaPassword, .novaApplicationCredentialSecret] where file.settings[key] != nil {
            if let problem = file.exposure {
                throw ConfigurationError(
                    "\(path) holds [nova] \(key.name) but \(problem): chmod o-rwx it, or move the secret into "
                        + "the file named by \(key.name)_file")
            }
        }
        if let url = file.settings[.amqpTransportURL], TransportURLText.hasPassword(url), let problem = file.exposure {
            throw ConfigurationError(
                "\(path) holds a password in [amqp] transport_url but \(problem): chmod o-rwx it, "
                    + "or move the URL into the file named by transport_url_file")
        }
        var configuration = try Configuration(flags.over(fromEnvironment.over(file.settings.over(ldapConf))))
        configuration.warnings = file.warnings + configuration.warnings
        return configuration
    }

    /// Parses merged settings.
    init(_ settings: Settings) throws {
        func text(_ key: Key) -> String? { settings[key] }
        func source(_ key: Key) -> String { settings.origin(key) }
        guard let base = text(.baseDN) else {
            throw ConfigurationError("no base DN: set --base-dn, NOVA_DIRSVC_BASE_DN, base_dn in [ldap], or BASE in ldap.conf")
        }
        do { baseDN = try DistinguishedName(validating: base) } catch {
            throw ConfigurationError("\(source(.baseDN)): the base DN \"\(base)\" is not a valid distinguished name")
        }
        guard !baseDN.string.isEmpty else { throw ConfigurationError("the base DN must not be the root DSE") }
        timeout = .milliseconds(Int64((try settings.seconds(.timeout) * 1000).rounded(.up)))
        serverBackoff = try settings.duration(.serverBackoff)
        failbackSettle = try settings.duration(.failbackSettle)
        uris = text(.uri).map(Self.splitURIs) ?? []
        for uri in uris where !["ldap://", "ldaps://", "ldapi://"].contains(where: { uri.lowercased().hasPrefix($0) }) {
            throw ConfigurationError("\(source(.uri)): \"\(uri)\" is not ldap://, ldaps:// or ldapi://")
        }
        bindDN = text(.bindDN)
        passwordFile = text(.passwordFile)
        caCertificateFile = text(.caCert)
        startTLS = try settings.truth(.startTLS)
        saslMechanism = try settings.choice(.saslMech)
        var saslWarnings: [String] = []
        if let mechanism = saslMechanism {
            let unused = [(Key.bindDN, text(.bindDN)), (.passwordFile, text(.passwordFile))].compactMap { $0.1 == nil ? nil : source($0.0) }
            if !unused.isEmpty {
                saslWarnings.append(
                    "\(source(.saslMech)) \(mechanism): \(unused.joined(separator: " and ")) not used "
                        + "(the identity is the \(mechanism == "GSSAPI" ? "Kerberos principal" : "client certificate or the local user"))")
            }
        }
        saslMinimumSSF = try settings.wholeNumber(.saslSSFMin)
        logFile = settings.text(.logFile)
        spoolDirectory = settings.defaulted(.spoolDir)
        allowInsecureBind = try settings.truth(.allowInsecureBind)
        verifyTLS = !(try settings.truth(.insecureNoTLSVerify))
        var busWarnings: [String] = []
        bus = try Bus(settings, warn: { busWarnings.append($0) })
        warnings = saslWarnings + busWarnings
        http = try HTTP(settings)
        nova = try Nova(settings)
    }

    static func splitURIs(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }).map(String.init)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmed: String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(self[first...last])
    }
}
