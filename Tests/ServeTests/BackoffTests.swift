import Testing

@testable import Serve

@Suite struct BackoffTests {
    @Test func doublesUpToTheMaximumAndStartsOverAfterASuccess() {
        var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(5))
        #expect(
            (0..<6).map { _ in backoff.next() } == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5)])
        backoff.reset()
        #expect(backoff.next() == .milliseconds(500))
    }

    @Test func secondsAreWrittenForPeople() {
        #expect(Backoff.text(.milliseconds(500)) == "0.5 s")
        #expect(Backoff.text(.seconds(30)) == "30 s")
    }

    @Test func theStatsLineNamesEveryCounter() {
        var counters = ServiceCounters()
        counters.received = 5
        counters.applied = 3
        counters.ignored = 1
        counters.failed = 1
        counters.stale = 2
        #expect(counters.line == "received=5 applied=3 ignored=1 queued=0 failed=1 redelivered=0 stale=2")
    }
}
