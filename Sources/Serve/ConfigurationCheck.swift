import AMQP
import NovaDirsvc

/// `serve --check-config`.
package enum ConfigurationCheck {
    /// What it found.
    package struct Found: Sendable {
        package let directory: Directory.Check
        /// The broker logged in to (nil: no [amqp]).
        package let broker: String?
    }

    /// Reaches the directory (bind, read the base DN) and the broker (log in, look up Nova's
    /// exchange and the service's queue), writing nothing to the directory and leaving the
    /// broker as it was: every look-up is passive (nothing is created, declared or bound). Throws the first problem, whose exit
    /// status says what it is (64 settings, 69 unreachable, 77 refused credentials).
    package static func run(_ configuration: NovaDirsvc.Configuration) throws -> Found {
        guard configuration.bus != nil || configuration.http != nil else {
            throw ConfigurationError(
                "nothing to serve: set transport_url (or transport_url_file) in [amqp], as in nova.conf, "
                    + "and/or listen in [http]")
        }
        let bus = try configuration.bus.map { try BusConsumer($0, connectTimeout: configuration.timeout) }
        _ = try configuration.http?.token()  // readable, and not by others
        let directory = try Directory.check(configuration, deadline: .now + configuration.timeout)
        let broker = try bus?.checkBroker()
        return Found(directory: directory, broker: broker)
    }
}

extension BusConsumer {
    /// Logs in to the first host that answers, looks up the exchange (a missing one is an
    /// error that names control_exchange) and the queue; returns what it found.
    func checkBroker() throws -> String {
        var lastError: AMQPError?
        for configuration in connectionConfigurations(heartbeat: 0) {
            do {
                // a failed look-up closes the channel: one connection per look-up
                let exchange = try AMQPConnection.connect(configuration)
                defer { exchange.close() }
                try exchange.checkExchange(settings.exchange)
                let queue = try AMQPConnection.connect(configuration)
                defer { queue.close() }
                let found: String
                do {
                    let (messages, consumers) = try queue.checkQueue(settings.queue)
                    found = "queue \(settings.queue) holds \(messages) messages, \(consumers) consumers"
                } catch let error as AMQPError where error.kind == .refused(code: 404) {
                    found = "queue \(settings.queue) (\(settings.queueType.rawValue)) will be created at start"
                }
                return "\(Self.endpoint(configuration)): exchange \(settings.exchange) exists; \(found)"
            } catch let error as AMQPError {
                let refusal = BusError(error, settings: settings)
                if refusal.isSetup || error.kind == .refused(code: 404) { throw refusal }
                lastError = error
            }
        }
        throw BusError(lastError!, settings: settings)
    }
}
