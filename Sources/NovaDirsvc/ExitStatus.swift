import LDAP

/// The documented exit statuses (BSD sysexits), one per kind of outcome.
package enum ExitStatus: Int32, Sendable {
    /// Done (also: unregister of an instance that was not registered).
    case success = 0
    /// Anything else: a server refusal other than the ones below, an unexpected failure.
    case failure = 1
    /// EX_USAGE: bad flags, or a configuration problem (missing base DN, unreadable or
    /// world-readable password file, refused insecure bind).
    case usage = 64
    /// EX_DATAERR: bad input; the message names the field and the reason. Nothing was written.
    case dataError = 65
    /// EX_UNAVAILABLE: the directory could not be reached or did not answer in time (and, for
    /// register/unregister, the event could not be queued in the spool either).
    case unavailable = 69
    /// EX_TEMPFAIL: the event was queued in the spool; `flush` or the next event applies it.
    case tempFail = 75
    /// EX_NOPERM: the bind was refused, the account may not do this, or the entry at the
    /// instance's DN is not nova-dirsvc's (no novaInstance object class).
    case noPermission = 77

    /// The status for an error thrown by the domain or the LDAP layer (FailureMeaning: the
    /// one classification).
    package init(for error: any Error) { self = FailureMeaning(of: error).exitStatus }
}

/// An error of a layer the domain does not know (the broker's) that says its own status; the
/// mapping stays in one place per layer.
package protocol ExitStatusProviding: Error {
    var exitStatus: ExitStatus { get }
}
