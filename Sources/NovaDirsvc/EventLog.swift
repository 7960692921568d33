import Foundation

/// The log of what was registered and unregistered: one JSON object per line (JSON lines),
/// appended with a single write(2) so concurrent hook processes never interleave lines.
///
///     {"action":"register","instance_uuid":"...","outcome":"added","record":{...},"time":"2026-11-25T15:32:03.123Z"}
///
/// It holds the record and the outcome, never a password. A failure to log never loses the
/// event: `append` reports it and the caller carries on.
public struct EventLog: Sendable {
    public let path: String
    public init(path: String) { self.path = path }

    /// Appends one line; returns a description of the failure, or nil.
    @discardableResult
    public func append(action: String, instanceUUID: String?, record: InstanceRecord?, outcome: String,
                       error: String? = nil, detail: String? = nil, time: Date = Date()) -> String? {
        var line: [String: Any] = ["time": Self.timestamp(time), "action": action, "outcome": outcome]
        if let instanceUUID { line["instance_uuid"] = instanceUUID }
        if let record { line["record"] = record.dictionary }
        if let error { line["error"] = error }
        if let detail { line["detail"] = detail }
        guard var data = try? JSONSerialization.data(withJSONObject: line, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "cannot encode the log line"
        }
        data.append(0x0A)
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return "cannot open the event log \(path): \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        return written == data.count ? nil : "cannot write the event log \(path): \(String(cString: strerror(errno)))"
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
