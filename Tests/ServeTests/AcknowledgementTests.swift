import Testing

@testable import NovaDirsvc
@testable import Serve

/// What serve tells the broker about one receive, decided without a broker (the same decisions
/// against RabbitMQ: Tests/cli/test_serve_faults.py, test_production_bus.py).
@Suite("acknowledgement decisions")
struct AcknowledgementTests {
    @Test("all settled: one acknowledgement up to the last, receiving goes on")
    func allSettled() {
        #expect(Acknowledgement.decide(count: 64, unsettled: []) == Acknowledgement(action: .all, pauseReceiving: false))
    }

    @Test("some unsettled: the others acknowledged one by one, those handed back alone, no pause")
    func someUnsettled() {
        let decision = Acknowledgement.decide(count: 5, unsettled: [3, 1])
        #expect(decision == Acknowledgement(action: .each(ack: [0, 2, 4], requeue: [1, 3]), pauseReceiving: false))
    }

    @Test("none settled: all handed back, and receiving pauses (the spool and the directory both fail)")
    func noneSettled() {
        let decision = Acknowledgement.decide(count: 3, unsettled: [0, 1, 2])
        #expect(decision == Acknowledgement(action: .each(ack: [], requeue: [0, 1, 2]), pauseReceiving: true))
    }

    struct Boom: Error {}

    @Test("an event applied, stale, queued or kept settles its message; only one that could be put nowhere does not")
    func settlements() {
        typealias R = Result<EventPath.Outcome, any Error>
        #expect(Acknowledgement.settlement(of: R.success(.applied(.added))) == .applied)
        #expect(Acknowledgement.settlement(of: R.success(.applied(.absent))) == .applied)
        #expect(Acknowledgement.settlement(of: R.success(.appliedFromSpool)) == .applied)
        #expect(Acknowledgement.settlement(of: R.success(.applied(.stale))) == .stale)
        #expect(Acknowledgement.settlement(of: R.success(.queued(reason: "down"))) == .queued)
        #expect(Acknowledgement.settlement(of: R.failure(EventNotAppliedError(error: Boom(), kept: "queued", state: .queued))) == .queued)
        #expect(Acknowledgement.settlement(of: R.failure(EventNotAppliedError(error: Boom(), kept: "kept", state: .setAside))) == .failed)
        #expect(
            Acknowledgement.settlement(of: R.failure(EventNotAppliedError(error: Boom(), kept: "not kept", state: .lost))) == .unsettled)
        #expect(Acknowledgement.settlement(of: R.failure(Boom())) == .unsettled)
    }
}
