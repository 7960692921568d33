/// The writer's view of the directory (`DirectoryWriter`): up (events are written as they
/// come), or queueing (it was found unavailable, or refusing us: events go straight to the
/// spool, acknowledged there, and the spool is drained at growing intervals until it is empty
/// again). The one queue-while-down policy of serve, for every intake.
struct DirectoryState {
    /// Why the directory is not being written to, since when; nil while it is up.
    var queueingReason: String?
    var backoff = Backoff()
    var nextDrain = ContinuousClock.now
    /// When the spool was last looked at while up (events queued by the CLI, by a concurrent
    /// service): every few seconds.
    var nextSpoolLook = ContinuousClock.now
    /// When the writes in doubt (a server that took a write without answering) are looked at next.
    var nextInDoubtLook = ContinuousClock.now
    /// When the directory is looked at next if nothing is written to it meanwhile.
    var nextProbe = ContinuousClock.now + DirectoryState.probeInterval

    var isQueueing: Bool { queueingReason != nil }
    static let spoolLookInterval: Duration = .seconds(5)
    /// A drain's budget: short, so that signals and the bus are looked at between two.
    static let drainBudget: Duration = .seconds(5)
    static let inDoubtInterval: Duration = .seconds(5)
    static let probeInterval: Duration = .seconds(10)
}
