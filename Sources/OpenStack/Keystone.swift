#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// How to authenticate to Keystone (v3), named as keystoneauth names its options, so that an
/// operator copies them from nova.conf's `[keystone_authtoken]` or `[service_user]`.
package struct KeystoneCredentials: Sendable {
    package enum Method: Sendable {
        /// `auth_type = password`: a user and its password, scoped to a project.
        case password(user: UserReference, password: String)
        /// `auth_type = v3applicationcredential`: an application credential (by ID, or by name
        /// with its user) and its secret; the credential carries its own project.
        case applicationCredential(id: String?, name: String?, user: UserReference?, secret: String)
    }

    /// A user by ID, or by name in a domain (by name or ID).
    package struct UserReference: Sendable {
        package var id: String?
        package var name: String?
        package var domainName: String?
        package var domainID: String?
        package init(id: String? = nil, name: String? = nil, domainName: String? = nil, domainID: String? = nil) {
            self.id = id
            self.name = name
            self.domainName = domainName
            self.domainID = domainID
        }
    }

    package var authURL: String
    package var method: Method
    package var projectID: String?
    package var projectName: String?
    package var projectDomainName: String?
    package var projectDomainID: String?
    /// The catalog's region to take the compute endpoint from (nil: the first).
    package var regionName: String?
    /// public, internal or admin (keystoneauth's `interface`; `valid_interfaces` in nova.conf).
    package var interface = "public"

    package init(authURL: String, method: Method) {
        self.authURL = authURL
        self.method = method
    }
}

/// A token and the compute endpoint of its catalog.
package struct KeystoneSession: Sendable {
    package let token: String
    package let computeEndpoint: String
}

package enum Keystone {
    /// POST /v3/auth/tokens; the compute endpoint found in the catalog.
    package static func authenticate(_ credentials: KeystoneCredentials, transport: HTTPTransfer) throws(OpenStackError) -> KeystoneSession
    {
        let url = tokensURL(credentials.authURL)
        let body: [UInt8]
        do { body = Array(try JSONEncoder().encode(AuthRequest(credentials))) } catch {
            throw OpenStackError(.settings, "the Keystone request could not be made: \(error)")
        }
        let response: HTTPTransfer.Response
        do {
            response = try transport.request(
                "POST", url, headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
                body: body)
        } catch {
            throw OpenStackError(error.kind, "Keystone could not be reached: \(error.message)")
        }
        switch response.status {
        case 201, 200: break
        case 401:
            throw OpenStackError(
                .refused,
                "Keystone (\(url)) refused the credentials (401): check [nova] auth_type, the user or "
                    + "application credential, its domain and project, and the secret")
        case 400, 404:
            throw OpenStackError(
                .settings,
                "Keystone (\(url)) answered \(response.status): check [nova] auth_url and the "
                    + "project and domain settings (\(Self.errorMessage(response.body)))")
        case 500...:
            throw OpenStackError(.transport, "Keystone (\(url)) answered \(response.status)")
        default:
            throw OpenStackError(.refused, "Keystone (\(url)) answered \(response.status): \(Self.errorMessage(response.body))")
        }
        guard let token = response.headers["x-subject-token"], !token.isEmpty else {
            throw OpenStackError(.badResponse, "Keystone (\(url)) issued no X-Subject-Token")
        }
        let catalog: [CatalogEntry]
        do { catalog = try JSONDecoder().decode(TokenResponse.self, from: Data(response.body)).token.catalog ?? [] } catch {
            throw OpenStackError(.badResponse, "Keystone (\(url)): the token's catalog cannot be read: \(error)")
        }
        let endpoint = try computeEndpoint(catalog, credentials: credentials)
        return KeystoneSession(token: token, computeEndpoint: endpoint)
    }

    /// `auth_url` with or without `/v3` (as keystoneauth takes it) -> `.../v3/auth/tokens`.
    static func tokensURL(_ authURL: String) -> String {
        var base = authURL
        while base.hasSuffix("/") { base.removeLast() }
        if !base.hasSuffix("/v3") { base += "/v3" }
        return base + "/auth/tokens"
    }

    static func computeEndpoint(_ catalog: [CatalogEntry], credentials: KeystoneCredentials) throws(OpenStackError) -> String {
        let interface = credentials.interface.lowercased().replacing("url", with: "")  // publicURL -> public
        let services = catalog.filter { $0.type == "compute" }
        guard !services.isEmpty else {
            throw OpenStackError(.settings, "the Keystone catalog has no compute service (Nova): check the project the token is scoped to")
        }
        for service in services {
            for endpoint in service.endpoints where endpoint.interface == interface {
                if let region = credentials.regionName, endpoint.region_id != region && endpoint.region != region { continue }
                return endpoint.url
            }
        }
        let offered = services.flatMap(\.endpoints).map { "\($0.interface) in \($0.region_id ?? $0.region ?? "no region")" }
        throw OpenStackError(
            .settings,
            "no compute endpoint for interface \(interface)"
                + (credentials.regionName.map { " in region \($0)" } ?? "")
                + " in the catalog (it has: \(offered.joined(separator: ", "))): check [nova] interface and region_name")
    }

    static func errorMessage(_ body: [UInt8]) -> String {
        struct Wrapped: Decodable {
            struct Inner: Decodable { let message: String? }
            let error: Inner?
        }
        if let message = (try? JSONDecoder().decode(Wrapped.self, from: Data(body)))?.error?.message { return message }
        return String(decoding: body.prefix(200), as: UTF8.self)
    }

    // MARK: - Keystone's documents

    struct CatalogEntry: Decodable {
        struct Endpoint: Decodable {
            let interface: String
            let region_id: String?
            let region: String?
            let url: String
        }
        let type: String
        let endpoints: [Endpoint]
    }

    struct TokenResponse: Decodable {
        struct Token: Decodable { let catalog: [CatalogEntry]? }
        let token: Token
    }

    /// `{"auth": {"identity": ..., "scope": ...}}`
    struct AuthRequest: Encodable {
        let credentials: KeystoneCredentials
        init(_ credentials: KeystoneCredentials) { self.credentials = credentials }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(_ string: String) { stringValue = string }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var root = encoder.container(keyedBy: Key.self)
            var auth = root.nestedContainer(keyedBy: Key.self, forKey: Key("auth"))
            var identity = auth.nestedContainer(keyedBy: Key.self, forKey: Key("identity"))
            switch credentials.method {
            case .password(let user, let password):
                try identity.encode(["password"], forKey: Key("methods"))
                var method = identity.nestedContainer(keyedBy: Key.self, forKey: Key("password"))
                var entry = method.nestedContainer(keyedBy: Key.self, forKey: Key("user"))
                try Self.encode(user, into: &entry)
                try entry.encode(password, forKey: Key("password"))
            case .applicationCredential(let id, let name, let user, let secret):
                try identity.encode(["application_credential"], forKey: Key("methods"))
                var method = identity.nestedContainer(keyedBy: Key.self, forKey: Key("application_credential"))
                try method.encodeIfPresent(id, forKey: Key("id"))
                try method.encodeIfPresent(name, forKey: Key("name"))
                if let user {
                    var entry = method.nestedContainer(keyedBy: Key.self, forKey: Key("user"))
                    try Self.encode(user, into: &entry)
                }
                try method.encode(secret, forKey: Key("secret"))
                return  // an application credential is scoped by itself
            }
            guard credentials.projectID != nil || credentials.projectName != nil else { return }
            var scope = auth.nestedContainer(keyedBy: Key.self, forKey: Key("scope"))
            var project = scope.nestedContainer(keyedBy: Key.self, forKey: Key("project"))
            try project.encodeIfPresent(credentials.projectID, forKey: Key("id"))
            if credentials.projectID == nil {
                try project.encodeIfPresent(credentials.projectName, forKey: Key("name"))
                var domain = project.nestedContainer(keyedBy: Key.self, forKey: Key("domain"))
                if let id = credentials.projectDomainID {
                    try domain.encode(id, forKey: Key("id"))
                } else {
                    try domain.encode(credentials.projectDomainName ?? "Default", forKey: Key("name"))
                }
            }
        }

        static func encode(_ user: KeystoneCredentials.UserReference, into container: inout KeyedEncodingContainer<Key>) throws {
            if let id = user.id {
                try container.encode(id, forKey: Key("id"))
                return
            }
            try container.encodeIfPresent(user.name, forKey: Key("name"))
            var domain = container.nestedContainer(keyedBy: Key.self, forKey: Key("domain"))
            if let id = user.domainID {
                try domain.encode(id, forKey: Key("id"))
            } else {
                try domain.encode(user.domainName ?? "Default", forKey: Key("name"))
            }
        }
    }
}
