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

    /// What `error` means for the event (FailureMeaning: the one classification).
    package init(for error: any Error) { self = FailureMeaning(of: error).disposition }
}

/// The base DN does not exist on the server (a configuration problem: exit 64).
package struct BaseDNMissingError: Error, CustomStringConvertible {
    package let baseDN: String
    package let serverSaid: String
    package var description: String {
        "the base DN \"\(baseDN)\" does not exist on the directory server (\(serverSaid)): create it, or fix base_dn"
    }
}
