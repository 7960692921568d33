import LDAP

/// What an error means for the event that met it: the rule that decides whether an event is
/// queued, kept in `failed/`, or left where it is while the command fails. One place, used by
/// the CLI and the service alike.
package enum Disposition: Sendable, Equatable {
    /// The directory cannot take it now (down, hanging, busy, read-only, answering garbage):
    /// queue the event; the spool replays it later.
    case retryLater
    /// Something about the caller's side (configuration, credentials, the account's rights,
    /// TLS): no event is at fault. Queued events stay queued, a new event is queued too, and
    /// the command fails with the error's own status until the operator fixes it.
    case callerProblem
    /// This one event can never be applied (its entry is not ours, the directory refuses its
    /// content): it is kept in `failed/` with the reason and the others go on.
    case eventRefused

    package init(for error: any Error) {
        switch error {
        case is ForeignEntryError, is InputError: self = .eventRefused
        case is ConfigurationError, is Spool.Failure, is BaseDNMissingError, is SASLClientError: self = .callerProblem
        case let error as LDAPError: self = Self.disposition(of: error.code)
        default: self = .callerProblem
        }
    }

    /// Refusals of an entry's shape (its classes, attributes, syntaxes, DN). Every value is
    /// validated before it is written and the DN is built from the UUID, so from a server these
    /// mean that its schema is not nova-dirsvc's (schema/ not loaded, or another version): the
    /// server's setup, not the event. Seen with a slapd without the schema, which moved every
    /// queued event to failed/ while they were counted as the events' own refusals.
    static let schemaMismatch: Set<LDAPResultCode> = [
        .objectClassViolation, .undefinedAttributeType, .invalidAttributeSyntax, .inappropriateMatching,
        .objectClassModsProhibited, .namingViolation, .invalidDNSyntax,
    ]

    private static func disposition(of code: LDAPResultCode) -> Disposition {
        if code.isUnavailable { return .retryLater }
        if code.isAuthorizationFailure || schemaMismatch.contains(code) { return .callerProblem }
        if code == .paramError || code == .notSupported { return .callerProblem }  // e.g. a URI libldap cannot parse
        switch code {
        case .constraintViolation, .notAllowedOnNonLeaf, .notAllowedOnRDN, .attributeOrValueExists,
            .noSuchAttribute, .referral, .aliasProblem:
            return .eventRefused
        default:
            // unwillingToPerform (a read-only backend), protocolError and decodingError (a
            // server answering garbage, a refused StartTLS), other, and codes not known here:
            // retried, never thrown away
            return .retryLater
        }
    }
}

/// The base DN does not exist on the server (a configuration problem: exit 64).
package struct BaseDNMissingError: Error, CustomStringConvertible {
    package let baseDN: String
    package let serverSaid: String
    package var description: String {
        "the base DN \"\(baseDN)\" does not exist on the directory server (\(serverSaid)): create it, or fix base_dn"
    }
}
