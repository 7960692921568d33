import AMQP
import NovaDirsvc

extension Service {
    /// What `serve --check-config` found.
    public struct Check: Sendable {
        public let directory: Directory.Check
        /// The broker logged in to (nil: no [amqp]).
        public let broker: String?
    }

    /// Reaches the directory (bind, read the base DN) and the broker (log in, declare the
    /// exchange as configured, which finds a durability that does not match Nova's), writing
    /// nothing to the directory and creating no queue. Throws the first problem, whose exit
    /// status says what it is (64 settings, 69 unreachable, 77 refused credentials).
    public static func check(_ configuration: NovaDirsvc.Configuration) throws -> Check {
        guard configuration.bus != nil || configuration.http != nil else {
            throw ConfigurationError("nothing to serve: set transport_url (or transport_url_file) in [amqp], as in nova.conf, "
                                     + "and/or listen in [http]")
        }
        let bus = try configuration.bus.map { try BusConsumer($0, connectTimeout: configuration.timeout) }
        _ = try configuration.http?.token()  // readable, and not by others
        let directory = try Directory.check(configuration, deadline: .now + configuration.timeout)
        let broker = try bus?.checkExchange()
        return Check(directory: directory, broker: broker)
    }
}

extension BusConsumer {
    /// Logs in to the first host that answers and declares the exchange; returns the host.
    func checkExchange() throws -> String {
        var lastError: AMQPError?
        for configuration in connectionConfigurations(heartbeat: 0) {
            do {
                let connection = try AMQPConnection.connect(configuration)
                defer { connection.close() }
                try connection.declareExchange(settings.exchange, type: "topic", durable: settings.exchangeDurable)
                return "\(configuration.user)@\(configuration.host):\(configuration.port)\(url.virtualHost == "/" ? "" : "/" + url.virtualHost)"
            } catch let error as AMQPError {
                let refusal = BusError(error, settings: settings)
                if refusal.isSetup { throw refusal }
                lastError = error
            }
        }
        throw BusError(lastError!, settings: settings)
    }
}
