import Glibc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The log of what was registered and unregistered: one JSON object per line (JSON lines),
/// appended with a single write(2) so concurrent hook processes never interleave lines.
///
///     {"action":"register","instance_uuid":"...","outcome":"added","record":{...},"time":"2026-11-25T15:32:03.123Z"}
///
/// It holds the record and the outcome, never a password. A failure to log never loses the
/// event: `append` reports it and the caller carries on.
package struct EventLog: Sendable {
    package let path: String
    package init(path: String) { self.path = path }

    /// Appends one line; returns a description of the failure, or nil.
    @discardableResult
    package func append(
        action: String, instanceUUID: String?, record: InstanceRecord?, outcome: String,
        error: String? = nil, detail: String? = nil, warnings: [String] = [], server: String? = nil,
        passedOver: [String] = [], origin: EventOrigin = EventOrigin(), time: Date = Date()
    ) -> String? {
        var line: [String: JSONValue] = ["time": .string(Self.timestamp(time)), "action": .string(action), "outcome": .string(outcome)]
        if let instanceUUID { line["instance_uuid"] = .string(instanceUUID) }
        if let record { line["record"] = record.json }
        if let error { line["error"] = .string(error) }
        if let detail { line["detail"] = .string(detail) }
        if !warnings.isEmpty { line["warnings"] = .strings(warnings) }
        if let server { line["server"] = .string(server) }
        if !passedOver.isEmpty { line["passed_over"] = .strings(passedOver) }
        if let eventType = origin.eventType { line["event_type"] = .string(eventType) }
        if let messageID = origin.messageID { line["message_id"] = .string(messageID) }
        if let eventTime = origin.time { line["event_time"] = .string(eventTime.description) }
        let data = Array((JSONValue.object(line).text + "\n").utf8)
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return "cannot open the event log \(path): \(POSIX.errorText)" }
        defer { close(fd) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        return written == data.count ? nil : "cannot write the event log \(path): \(POSIX.errorText)"
    }

    /// Why lines could not be appended (its folder missing, or not writable), or nil; creates
    /// nothing (for check-config).
    package func problem() -> String? {
        let cut = path.lastIndex(of: "/")
        let folder = cut.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        var info = stat()
        guard stat(folder, &info) == 0 else { return "the event log's folder \(folder): \(POSIX.errorText)" }
        guard info.st_mode & S_IFMT == S_IFDIR else { return "the event log's folder \(folder) is not a folder" }
        if access(folder, W_OK) != 0 { return "the event log's folder \(folder): \(POSIX.errorText)" }
        if access(path, F_OK) == 0, access(path, W_OK) != 0 { return "the event log \(path): \(POSIX.errorText)" }
        return nil
    }

    /// RFC 3339 UTC with milliseconds, e.g. 2026-11-25T15:32:03.123Z.
    static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds % 1000), 3))Z"
    }
}
