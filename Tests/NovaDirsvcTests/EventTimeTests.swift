import Testing

@testable import NovaDirsvc

@Suite("Nova's clock")
struct EventTimeTests {
    @Test func osloTimestampsAndGeneralizedTimeRoundTrip() throws {
        let time = try #require(EventTime(oslo: "2026-12-01 09:41:39.666844"))
        #expect(time.generalized == "20261201094139.666844Z")
        #expect(time.description == "2026-12-01T09:41:39.666844Z")
        #expect(EventTime(generalized: time.generalized) == time)
        #expect(EventTime(oslo: "2026-12-01T09:41:39.666844Z") == time)
        // whole seconds, and fewer fraction digits
        #expect(EventTime(oslo: "1970-01-01 00:00:01")?.microseconds == 1_000_000)
        #expect(EventTime(oslo: "1970-01-01 00:00:00.5")?.microseconds == 500_000)
        #expect(EventTime(generalized: "20000229235959Z")?.description == "2000-02-29T23:59:59.000000Z")
        // order is the clock's
        #expect(try #require(EventTime(oslo: "2026-12-01 09:41:39.666843")) < time)
        #expect(try #require(EventTime(oslo: "2025-12-31 23:59:59.999999")) < time)
    }

    @Test(arguments: [
        "", "yesterday", "2026-13-01 00:00:00", "2026-12-01 24:00:00", "2026-12-01 09:41", "2026/12/01 09:41:39",
        "2026-12-01 09:41:39.", "2026-12-01 09:41:39.12345678901", "2026-12-01 09:41:39x",
    ])
    func whatIsNotATimestamp(_ text: String) {
        #expect(EventTime(oslo: text) == nil)
    }
}
