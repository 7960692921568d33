/// An event that was not applied, because of `error`, and where it is now (queued, kept in
/// failed/). The exit status is `error`'s.
public struct EventNotAppliedError: Error, CustomStringConvertible {
    public let error: any Error
    /// Where the event is now, in words ("queued in ...", "kept in ...", "not kept: ...").
    public let kept: String
    /// Where the event is now: whether a message carrying it may be acknowledged.
    public let state: State
    public enum State: Sendable {
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
    public var description: String { "\(error); the event was \(kept)" }
}

/// A queued event that the directory refused for good when another process drained the
/// spool; it is in SPOOL/failed/ (exit 1).
public struct SetAsideError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { "the event was refused when the spool was drained and set aside: \(reason)" }
}

/// The directory was unavailable and the spool could not take the event either (exit 69).
public struct UnavailableError: Error, CustomStringConvertible {
    public let directory: any Error
    public let spool: any Error
    public var description: String { "\(directory); and the event could not be queued: \(spool)" }
}
