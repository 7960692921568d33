/// A failed AMQP operation: what failed, and why, as rabbitmq-c or the broker said it. Never
/// holds a password.
package struct AMQPError: Error, Sendable, CustomStringConvertible {
    package enum Kind: Sendable, Equatable {
        /// No connection, or it was lost (the broker stopped, the network went): retry later.
        case connection
        /// No answer in time.
        case timeout
        /// The broker refused: its reply code (e.g. 403 ACCESS_REFUSED for a wrong password,
        /// 406 PRECONDITION_FAILED for an exchange declared with other properties).
        case refused(code: UInt16)
        /// rabbitmq-c refused (a bad parameter, a frame it cannot read).
        case library
    }
    package let kind: Kind
    package let operation: String
    package let message: String

    package init(_ kind: Kind, operation: String, message: String) {
        self.kind = kind
        self.operation = operation
        self.message = message
    }

    /// True when the broker said the credentials are wrong (403 on login).
    package var isAccessRefused: Bool { kind == .refused(code: 403) }

    package var description: String {
        switch kind {
        case .refused(let code): return "AMQP \(operation) refused by the broker (\(code)): \(message)"
        case .timeout: return "AMQP \(operation): no answer in time: \(message)"
        case .connection: return "AMQP \(operation): connection failed: \(message)"
        case .library: return "AMQP \(operation) failed: \(message)"
        }
    }
}
