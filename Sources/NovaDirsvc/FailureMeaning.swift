import LDAP

/// What an error means, decided in one place: for the event that met it (`Disposition`:
/// queue, keep in `failed/`, or leave while the command fails), and for the caller (the
/// documented `ExitStatus`; serve's HTTP answers derive from it in `HTTPFrontend.problem`).
/// `Disposition(for:)` and `ExitStatus(for:)` read this; nothing else classifies errors.
package struct FailureMeaning: Sendable, Equatable {
    package let disposition: Disposition
    package let exitStatus: ExitStatus

    package init(_ disposition: Disposition, _ exitStatus: ExitStatus) {
        self.disposition = disposition
        self.exitStatus = exitStatus
    }

    package init(of error: any Error) {
        switch error {
        case let error as EventNotAppliedError: self.init(of: error.error)
        case let error as LDAPError: self = Self.of(error.code)
        case is InputError: self.init(.eventRefused, .dataError)
        case is ForeignEntryError: self.init(.eventRefused, .noPermission)
        case is ConfigurationError, is BaseDNMissingError: self.init(.callerProblem, .usage)
        // the client could not make its SASL credentials (a keytab, a principal, a cache): the
        // caller's setup, never a directory that is down
        case let error as SASLClientError: self.init(.callerProblem, error.isMissingMechanism ? .usage : .noPermission)
        case is Spool.Failure: self.init(.callerProblem, .unavailable)
        case is UnavailableError: self.init(.retryLater, .unavailable)
        // another layer's error (the broker's, Keystone's) says its own status
        case let error as any ExitStatusProviding: self.init(.callerProblem, error.exitStatus)
        default: self.init(.callerProblem, .failure)
        }
    }

    /// A result code's meaning: one table for every caller.
    static func of(_ code: LDAPResultCode) -> FailureMeaning {
        if code.isUnavailable { return .init(.retryLater, .unavailable) }
        if code.isAuthorizationFailure { return .init(.callerProblem, .noPermission) }
        // the setup: a URI libldap cannot parse, a server without nova-dirsvc's schema
        if code == .paramError || code == .notSupported || schemaMismatch.contains(code) { return .init(.callerProblem, .usage) }
        if code == .constraintViolation { return .init(.eventRefused, .dataError) }
        if eventRefusals.contains(code) { return .init(.eventRefused, .failure) }
        // unwillingToPerform (a read-only backend), protocolError and decodingError (a server
        // answering garbage, a refused StartTLS), other, and codes not known here: retried,
        // never thrown away
        return .init(.retryLater, .failure)
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

    /// What a directory says of one event's content: that event can never be applied.
    static let eventRefusals: Set<LDAPResultCode> = [
        .notAllowedOnNonLeaf, .notAllowedOnRDN, .attributeOrValueExists, .noSuchAttribute, .referral, .aliasProblem,
    ]
}
