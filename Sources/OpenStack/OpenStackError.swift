/// What went wrong talking to Keystone or Nova, by kind (the CLI maps each to its exit status:
/// credentials 77, unreachable 69, settings 64), with a message that never holds a secret.
package struct OpenStackError: Error, CustomStringConvertible, Sendable {
    package enum Kind: Sendable, Equatable {
        /// No connection, a time-out, a server error (5xx): try again later.
        case transport
        /// The server's certificate could not be verified.
        case tls
        /// Keystone refused the credentials (401), or Nova the token or the policy (401, 403).
        case refused
        /// The settings cannot work (no compute endpoint in the catalog, a malformed auth_url).
        case settings
        /// An answer that is not what the API documents.
        case badResponse
    }

    package let kind: Kind
    package let message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { message }
}
