/// Nova's API, through Keystone: section `[nova]` of the configuration file (or the
/// NOVA_DIRSVC_NOVA_* variables), with keystoneauth's option names, so that an operator copies
/// them from nova.conf's `[keystone_authtoken]` or `[service_user]`:
///
///     [nova]
///     auth_url = https://keystone.example.com:5000/v3
///     # or password: username, user_domain_name, password_file, project_name, project_domain_name
///     # (password and application_credential_secret may be in this file itself only when it is
///     # not readable by others)
///     auth_type = v3applicationcredential
///     application_credential_id = 0a1b...
///     application_credential_secret_file = /etc/nova-dirsvc/nova-secret
///     region_name = RegionOne
///     # public (keystoneauth's default), internal, admin
///     interface = internal
///     # TLS is verified; insecure = true turns that off
///     cafile = /etc/pki/tls/certs/ca-bundle.crt
///     page_size = 1000
///     # seconds, each request
///     timeout = 60
///     # serve reconciles by itself (0 or unset: never), with this --grace
///     reconcile_interval = 3600
///     reconcile_grace = 600
///
/// Only text is parsed here (the domain knows no HTTP); the CLI builds the Keystone request.
extension Configuration {
    package struct Nova: Sendable {
        package enum AuthType: String, Sendable, CaseIterable {
            case password
            case applicationCredential = "v3applicationcredential"
        }
        package enum Secret: Sendable {
            case text(String)
            case file(String)
        }

        package var authURL: String
        package var authType: AuthType
        package var username: String?
        package var userID: String?
        package var userDomainName: String?
        package var userDomainID: String?
        package var password: Secret?
        package var projectName: String?
        package var projectID: String?
        package var projectDomainName: String?
        package var projectDomainID: String?
        package var applicationCredentialID: String?
        package var applicationCredentialName: String?
        package var applicationCredentialSecret: Secret?
        package var regionName: String?
        package var interface = "public"
        package var caFile: String?
        /// keystoneauth's `insecure`: TLS not verified. Only when the operator says so.
        package var insecure = false
        /// Servers asked for per page of /servers/detail (Nova answers with at most its max_limit).
        package var pageSize = 1000
        /// For each request to Keystone or Nova (keystoneauth's `timeout`).
        package var timeout: Duration = .seconds(60)
        /// serve reconciles from Nova's API every so often (one serve per round: `ReconcileLease`);
        /// nil: never.
        package var reconcileInterval: Duration?
        /// The scheduled reconcile's `--grace`: an entry created or modified this recently is
        /// never deleted.
        package var reconcileGrace: Double = 600

        /// The secret (password or application credential secret), read now.
        package func secret() throws -> String {
            let source: Secret? = authType == .password ? password : applicationCredentialSecret
            switch source {
            case .text(let text): return text
            case .file(let path): return try Configuration.readPasswordFile(path, what: "[nova] secret file")
            case nil: throw ConfigurationError("[nova]: no secret (password_file or application_credential_secret_file)")
            }
        }

        /// nil when `auth_url` is not set (no Nova API).
        init?(_ settings: Settings, bool: (Key) throws -> Bool, source: (Key) -> String) throws {
            guard let url = settings[.novaAuthURL] else {
                if let stray = Key.allCases.first(where: { $0.section == .nova && settings[$0] != nil }) {
                    throw ConfigurationError("\(source(stray)) is set but [nova] auth_url is not")
                }
                return nil
            }
            guard url.lowercased().hasPrefix("https://") || url.lowercased().hasPrefix("http://") else {
                throw ConfigurationError("\(source(.novaAuthURL)): \"\(url)\" is not an http:// or https:// URL")
            }
            authURL = url
            let type = settings[.novaAuthType] ?? "password"
            guard let parsed = AuthType(rawValue: type.lowercased()) else {
                throw ConfigurationError(
                    "\(source(.novaAuthType)): \"\(type)\" is not one of "
                        + AuthType.allCases.map(\.rawValue).joined(separator: ", "))
            }
            authType = parsed
            username = settings[.novaUsername]
            userID = settings[.novaUserID]
            userDomainName = settings[.novaUserDomainName]
            userDomainID = settings[.novaUserDomainID]
            projectName = settings[.novaProjectName]
            projectID = settings[.novaProjectID]
            projectDomainName = settings[.novaProjectDomainName]
            projectDomainID = settings[.novaProjectDomainID]
            applicationCredentialID = settings[.novaApplicationCredentialID]
            applicationCredentialName = settings[.novaApplicationCredentialName]
            func secret(_ text: Key, _ file: Key) throws -> Secret? {
                if settings[text] != nil && settings[file] != nil {
                    throw ConfigurationError("\(source(text)) and \(source(file)): set one, not both")
                }
                return settings[text].map(Secret.text) ?? settings[file].map(Secret.file)
            }
            password = try secret(.novaPassword, .novaPasswordFile)
            applicationCredentialSecret = try secret(.novaApplicationCredentialSecret, .novaApplicationCredentialSecretFile)
            switch authType {
            case .password:
                guard username != nil || userID != nil else {
                    throw ConfigurationError("[nova] auth_type = password needs username (with user_domain_name) or user_id")
                }
                guard password != nil else { throw ConfigurationError("[nova] auth_type = password needs password_file") }
                guard projectName != nil || projectID != nil else {
                    throw ConfigurationError(
                        "[nova] auth_type = password needs project_name (with project_domain_name) or project_id: "
                            + "listing every project's servers takes a project-scoped token")
                }
            case .applicationCredential:
                guard applicationCredentialID != nil || (applicationCredentialName != nil && (username != nil || userID != nil)) else {
                    throw ConfigurationError(
                        "[nova] auth_type = v3applicationcredential needs application_credential_id, or "
                            + "application_credential_name with username (and user_domain_name) or user_id")
                }
                guard applicationCredentialSecret != nil else {
                    throw ConfigurationError("[nova] auth_type = v3applicationcredential needs application_credential_secret_file")
                }
            }
            regionName = settings[.novaRegionName]
            if let value = settings[.novaInterface] {
                let name = value.lowercased().replacing("url", with: "")
                guard ["public", "internal", "admin"].contains(name) else {
                    throw ConfigurationError("\(source(.novaInterface)): \"\(value)\" is not public, internal or admin")
                }
                interface = name
            }
            caFile = settings[.novaCAFile]
            insecure = try bool(.novaInsecure)
            if let value = settings[.novaPageSize] {
                guard let size = Int(value), (1...10000).contains(size) else {
                    throw ConfigurationError("\(source(.novaPageSize)): \"\(value)\" is not a whole number from 1 to 10000")
                }
                pageSize = size
            }
            if let value = settings[.novaTimeout] {
                guard let seconds = Double(value), seconds.isFinite, seconds > 0, seconds <= 3600 else {
                    throw ConfigurationError(
                        "\(source(.novaTimeout)): \"\(value)\" is not a number of seconds more than 0 and at most 3600")
                }
                timeout = .milliseconds(Int64(seconds * 1000))
            }
            if let value = settings[.novaReconcileInterval] {
                guard let seconds = Double(value), seconds.isFinite, seconds >= 0, seconds <= 7 * 86400 else {
                    throw ConfigurationError(
                        "\(source(.novaReconcileInterval)): \"\(value)\" is not a number of seconds from 0 (never) to 604800")
                }
                reconcileInterval = seconds == 0 ? nil : .milliseconds(Int64(seconds * 1000))
            }
            if let value = settings[.novaReconcileGrace] {
                guard let seconds = Double(value), seconds.isFinite, seconds >= 0 else {
                    throw ConfigurationError("\(source(.novaReconcileGrace)): \"\(value)\" is not a number of seconds, 0 or more")
                }
                reconcileGrace = seconds
            }
        }
    }
}
