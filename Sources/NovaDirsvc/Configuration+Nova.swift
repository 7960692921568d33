/// Nova's API, through Keystone: section `[nova]` of the configuration file (or the
/// NOVA_DIRSVC_NOVA_* variables), with keystoneauth's option names, so that an operator copies
/// them from nova.conf's `[keystone_authtoken]` or `[service_user]`. Each key's kind, default
/// and meaning: Configuration+Declarations.swift. Only text is parsed here (the domain knows no
/// HTTP); the CLI builds the Keystone request.
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
        package var interface: String
        package var caFile: String?
        /// keystoneauth's `insecure`: TLS not verified. Only when the operator says so.
        package var insecure: Bool
        /// Servers asked for per page of /servers/detail (Nova answers with at most its max_limit).
        package var pageSize: Int
        /// For each request to Keystone or Nova (keystoneauth's `timeout`).
        package var timeout: Duration
        /// serve reconciles from Nova's API every so often (one serve per round: `ReconcileLease`);
        /// nil: never.
        package var reconcileInterval: Duration?
        /// The scheduled reconcile's `--grace`: an entry created or modified this recently is
        /// never deleted.
        package var reconcileGrace: Double

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
        init?(_ settings: Settings) throws {
            let source = settings.origin
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
            authType = try settings.chosen(.novaAuthType, as: AuthType.self)
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
            // keystoneauth also takes the catalog's names: publicURL, internalURL, adminURL
            interface = try settings.chosen(.novaInterface, normalized: { $0.lowercased().replacing("url", with: "") })
            caFile = settings[.novaCAFile]
            insecure = try settings.truth(.novaInsecure)
            pageSize = try settings.wholeNumber(.novaPageSize)
            timeout = try settings.duration(.novaTimeout)
            let interval = try settings.duration(.novaReconcileInterval)
            reconcileInterval = interval == .zero ? nil : interval
            reconcileGrace = try settings.seconds(.novaReconcileGrace)
        }
    }
}
