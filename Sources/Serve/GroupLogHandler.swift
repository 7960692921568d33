import Logging

/// The ServiceGroup's log in serve's words: the signal that starts a graceful shutdown as
/// "SIGTERM: stopping", warnings and errors as they are; its debug chatter dropped.
package struct GroupLogHandler: LogHandler {
    let say: @Sendable (String) -> Void
    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level = .debug

    package init(say: @escaping @Sendable (String) -> Void) { self.say = say }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        if let signal = event.metadata?["sl-signal"] {
            say("\(signal): stopping")
        } else if event.level >= .warning {
            say("\(event.message)" + (event.metadata?["sl-error"].map { ": \($0)" } ?? ""))
        }
    }

    /// A logger that writes through this handler.
    package static func logger(say: @escaping @Sendable (String) -> Void) -> Logger {
        Logger(label: "nova-dirsvc.serve") { _ in GroupLogHandler(say: say) }
    }
}
