/// When an event happened by Nova's clock, to the microsecond: what orders the events of one
/// instance (an event older than the newest one applied is stale). Nova stamps every
/// notification (oslo.messaging's `timestamp`, "2026-12-01 09:41:39.666844", UTC); the entry
/// keeps the time of the last event applied in `novaLastEventTime` (LDAP GeneralizedTime).
package struct EventTime: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Microseconds since 1970-01-01 00:00:00 UTC.
    package let microseconds: Int64

    package init(microseconds: Int64) { self.microseconds = microseconds }

    /// Before every time (what an entry without `novaLastEventTime` is compared as).
    package static let distantPast = EventTime(microseconds: .min)

    package static func < (a: EventTime, b: EventTime) -> Bool { a.microseconds < b.microseconds }

    /// oslo.messaging's form, "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC; a "T" and a trailing "Z"
    /// taken too); nil for anything else.
    package init?(oslo text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count >= 19, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":")
        else { return nil }
        let digits = bytes[0..<4] + bytes[5..<7] + bytes[8..<10] + bytes[11..<13] + bytes[14..<16] + bytes[17..<19]
        var rest = bytes[19...]
        if rest.last == UInt8(ascii: "Z") { rest = rest.dropLast() }
        self.init(digits: Array(digits), fraction: rest)
    }

    /// LDAP GeneralizedTime as this tool writes it, "YYYYMMDDHHMMSS[.f...]Z"; nil otherwise.
    package init?(generalized text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count >= 15, bytes.last == UInt8(ascii: "Z") else { return nil }
        self.init(digits: Array(bytes[0..<14]), fraction: bytes[14..<(bytes.count - 1)])
    }

    /// 14 digits (YYYYMMDDHHMMSS) and an optional ".fraction" (at most 6 digits are kept).
    private init?(digits: [UInt8], fraction: ArraySlice<UInt8>) {
        guard digits.count == 14, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        func number(_ range: Range<Int>) -> Int64 { digits[range].reduce(0) { $0 * 10 + Int64($1 - 0x30) } }
        let (month, day, hour, minute, second) = (number(4..<6), number(6..<8), number(8..<10), number(10..<12), number(12..<14))
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var micros: Int64 = 0
        if !fraction.isEmpty {
            guard fraction.first == UInt8(ascii: "."), fraction.count >= 2, fraction.count <= 10,
                fraction.dropFirst().allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
            else { return nil }
            let kept = Array(fraction.dropFirst().prefix(6))
            micros = kept.reduce(0) { $0 * 10 + Int64($1 - 0x30) }
            for _ in kept.count..<6 { micros *= 10 }
        }
        let days = Self.daysFromCivil(year: number(0..<4), month: month, day: day)
        microseconds = ((days * 86400 + hour * 3600 + minute * 60 + second) * 1_000_000) + micros
    }

    /// "20261201094139.666844Z": how `novaLastEventTime` holds it.
    package var generalized: String {
        let (civil, seconds, micros) = parts
        return pad(civil.year, 4) + pad(civil.month, 2) + pad(civil.day, 2) + pad(seconds / 3600, 2)
            + pad(seconds / 60 % 60, 2) + pad(seconds % 60, 2) + "." + pad(micros, 6) + "Z"
    }

    /// RFC 3339, "2026-12-01T09:41:39.666844Z" (the event log's form).
    package var description: String {
        let (civil, seconds, micros) = parts
        return pad(civil.year, 4) + "-" + pad(civil.month, 2) + "-" + pad(civil.day, 2) + "T" + pad(seconds / 3600, 2) + ":"
            + pad(seconds / 60 % 60, 2) + ":" + pad(seconds % 60, 2) + "." + pad(micros, 6) + "Z"
    }

    private var parts: ((year: Int64, month: Int64, day: Int64), Int64, Int64) {
        let micros = ((microseconds % 1_000_000) + 1_000_000) % 1_000_000
        let totalSeconds = (microseconds - micros) / 1_000_000
        let seconds = ((totalSeconds % 86400) + 86400) % 86400
        return (Self.civil(days: (totalSeconds - seconds) / 86400), seconds, micros)
    }

    private func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The date of a day count since 1970-01-01 (the inverse, same source).
    static func civil(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
