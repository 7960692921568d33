import NovaDirsvc

/// What one receive's messages tell the broker, decided from their outcomes alone (no broker:
/// Tests/ServeTests). A message is settled when its event is applied (or stale: older than what
/// was applied), in the spool, kept in failed/, or ignored; only a message whose event could be
/// put nowhere is handed back. All settled: one acknowledgement up to the last (`multiple`).
/// Some not: each settled one acknowledged, each other handed back on its own (a quorum queue
/// counts its deliveries and, past delivery_limit, dead-letters it); and when none was settled,
/// receiving pauses (the spool and the directory are both failing: retrying at once would spin).
struct Acknowledgement: Equatable {
    enum Action: Equatable {
        /// `basic.ack` of the last message with `multiple`.
        case all
        /// One `basic.ack` per settled message (by position), one `basic.nack` with requeue per other.
        case each(ack: [Int], requeue: [Int])
    }
    let action: Action
    let pauseReceiving: Bool

    /// `unsettled`: the positions (in the receive) of the messages that could be neither applied
    /// nor kept.
    static func decide(count: Int, unsettled: Set<Int>) -> Acknowledgement {
        guard !unsettled.isEmpty else { return Acknowledgement(action: .all, pauseReceiving: false) }
        let ack = (0..<count).filter { !unsettled.contains($0) }
        return Acknowledgement(action: .each(ack: ack, requeue: unsettled.sorted()), pauseReceiving: ack.isEmpty)
    }

    /// What an event's outcome means for its message, and which counter it goes to.
    enum Settlement: Equatable {
        case applied, stale, queued, failed
        /// Neither applied nor kept: the message goes back to the queue.
        case unsettled
    }

    static func settlement(of result: Result<EventPath.Outcome, any Error>) -> Settlement {
        switch result {
        case .success(.applied(.stale)): return .stale
        case .success(.applied), .success(.appliedFromSpool): return .applied
        case .success(.queued): return .queued
        case .failure(let error as EventNotAppliedError):
            switch error.state {
            case .setAside: return .failed
            case .queued: return .queued  // a problem on our side: queued until it is fixed
            case .lost: return .unsettled
            }
        case .failure(is SetAsideError): return .failed
        case .failure: return .unsettled
        }
    }
}
