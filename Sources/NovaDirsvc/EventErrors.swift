/// An event that was not applied, because of `error`, and where it is now (queued, kept in
/// failed/). The exit status is `error`'s.
package struct EventNotAppliedError: Error, CustomStringConvertible {
    package let error: any Error
    /// Where the event is now, in words ("queued in ...", "kept in ...", "not kept: ...").
    package let kept: String
    /// Where the event is now: whether a message carrying it may be acknowledged.
    package let state: State
    package enum State: Sendable {
        /// In the spool: applied by a later flush.
        case queued
        /// In failed/, with the reason beside it.
        case setAside
        /// Nowhere: the spool could not take it either.
        case lost
    }
    init(error: any Error, kept: String, state: State) {
        self.error = error
        self.kept = kept
        self.state = state
    }
    package var description: String { "\(error); the event was \(kept)" }
}

/// A queued event that the directory refused for good when another process drained the
/// spool; it is in SPOOL/failed/ (exit 1).
package struct SetAsideError: Error, CustomStringConvertible {
    package let reason: String
    package var description: String { "the event was refused when the spool was drained and set aside: \(reason)" }
}

/// The directory was unavailable and the spool could not take the event either (exit 69).
package struct UnavailableError: Error, CustomStringConvertible {
    package let directory: any Error
    package let spool: any Error
    package var description: String { "\(directory); and the event could not be queued: \(spool)" }
}
