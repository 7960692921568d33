import Logging

/// The ServiceGroup's log in serve's words: the signal that starts a graceful shutdown as
/// "SIGTERM: stopping", warnings and errors as they are; its debug chatter dropped.
public struct GroupLogHandler: LogHandler {
    let say: @Sendable (String) -> Void
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .debug

    public init(say: @escaping @Sendable (String) -> Void) { self.say = say }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        if let signal = event.metadata?["sl-signal"] {
            say("\(signal): stopping")
        } else if event.level >= .warning {
            say("\(event.message)" + (event.metadata?["sl-error"].map { ": \($0)" } ?? ""))
        }
    }

    /// A logger that writes through this handler.
    public static func logger(say: @escaping @Sendable (String) -> Void) -> Logger {
        Logger(label: "nova-dirsvc.serve") { _ in GroupLogHandler(say: say) }
    }
}
