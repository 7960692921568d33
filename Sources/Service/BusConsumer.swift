import AMQP
import NovaDirsvc

/// The service's side of the broker: one connection (to the first host of the transport URL
/// that answers), the topology declared on it, and the messages taken from the service's own
/// queue. After a lost connection it is simply made again: what was not acknowledged comes back.
///
/// Topology, as an oslo.messaging listener with a pool declares it: the topic exchange Nova
/// publishes to (`exchange`, durable as oslo.messaging declares it), the service's own durable
/// queue (`queue`: never the shared `versioned_notifications.info` that other consumers read),
/// bound with `<topic>.<priority>` for each topic and priority. Several services on one queue
/// are competing consumers.
final class BusConsumer {
    let settings: Configuration.Bus
    let url: TransportURL
    private(set) var connection: AMQPConnection?
    /// The host that answered last: tried first next time.
    private var preferred = 0

    init(_ settings: Configuration.Bus, connectTimeout: Duration) throws {
        self.settings = settings
        do {
            url = try TransportURL(parsing: try settings.transportURLText())
        } catch let error as TransportURL.Invalid {
            throw ConfigurationError(error.description)
        }
        if let file = settings.caCertificateFile, let problem = fileProblem(file) {
            throw ConfigurationError("cannot use the CA certificate file \(file) ([amqp] ca_cert): \(problem)")
        }
        self.connectTimeout = connectTimeout
    }
    let connectTimeout: Duration

    var isConnected: Bool { connection != nil }

    /// Where the service reads from, for its start-up line (no password).
    var summary: String {
        "\(url) queue \(settings.queue) bound to \(settings.exchange) with \(settings.routingKeys.joined(separator: ", "))"
    }

    /// Connects to the first host that answers (the last good one first) and declares the
    /// topology; throws the last host's error when none could be used.
    func connect() throws {
        let configurations = connectionConfigurations(heartbeat: settings.heartbeat)
        var lastError: (any Error)?
        for offset in configurations.indices {
            let index = (preferred + offset) % configurations.count
            do {
                let connection = try AMQPConnection.connect(configurations[index])
                do {
                    try declare(on: connection)
                } catch {
                    connection.close()
                    throw error
                }
                self.connection = connection
                preferred = index
                return
            } catch let error as AMQPError {
                lastError = error
                // a refusal that another host would repeat (credentials, settings) ends it now
                let refusal = BusError(error, settings: settings)
                if refusal.isSetup { throw refusal }
            }
        }
        throw BusError(lastError as! AMQPError, settings: settings)
    }

    private func declare(on connection: AMQPConnection) throws {
        try connection.declareExchange(settings.exchange, type: "topic", durable: settings.exchangeDurable)
        try connection.declareQueue(settings.queue, durable: true)
        for key in settings.routingKeys {
            try connection.bindQueue(settings.queue, exchange: settings.exchange, routingKey: key)
        }
        try connection.setPrefetch(UInt16(settings.prefetch))
        try connection.consume(settings.queue)
    }

    /// The messages that are there, at most `limit`, waiting up to `wait` for the first.
    func receive(limit: Int, wait: Duration) throws -> [AMQPConnection.Delivery] {
        guard let connection else { return [] }
        var deliveries: [AMQPConnection.Delivery] = []
        do {
            guard let first = try connection.next(timeout: wait) else { return [] }
            deliveries.append(first)
            while deliveries.count < limit, let more = try connection.next(timeout: .zero) {
                deliveries.append(more)
            }
        } catch let error as AMQPError {
            // what was taken but not acknowledged comes back to the queue with the connection
            drop()
            throw BusError(error, settings: settings)
        }
        return deliveries
    }

    /// Acknowledges a message; `upTo`: and every earlier one still unacknowledged (one frame
    /// for a whole batch).
    func ack(_ delivery: AMQPConnection.Delivery, upTo: Bool = false) throws {
        guard let connection else { return }
        do {
            try connection.ack(delivery.deliveryTag, upTo: upTo)
        } catch let error as AMQPError {
            drop()
            throw BusError(error, settings: settings)
        }
    }

    /// Closes the connection: the broker hands what was not acknowledged to another consumer,
    /// or back to this one when it connects again.
    func drop() {
        connection?.close()
        connection = nil
    }

    /// One connection configuration per host of the URL, in order; TLS verified against
    /// `ca_cert`, or Debian's CA bundle.
    func connectionConfigurations(heartbeat: Int) -> [AMQPConnection.Configuration] {
        url.configurations(connectTimeout: connectTimeout, heartbeat: heartbeat, tls: settings.tls,
                           caCertificateFile: settings.caCertificateFile ?? (settings.tls || url.tls ? Self.systemCAFile : nil))
    }

    /// Debian's CA bundle: the broker's certificate is verified against it when TLS is on and no
    /// `ca_cert` is set.
    static let systemCAFile = "/etc/ssl/certs/ca-certificates.crt"
}

/// A broker error, with what the operator can do about it.
struct BusError: Error, CustomStringConvertible {
    let error: AMQPError
    let hint: String?

    init(_ error: AMQPError, settings: Configuration.Bus) {
        self.error = error
        switch error.kind {
        case .refused(code: 403): hint = "check the user and password of transport_url"
        case .refused(code: 530): hint = "the user may not use this virtual host, or it does not exist: check the transport_url's /VHOST"
        case .refused(code: 406):
            hint = error.operation.hasPrefix("declare exchange")
                ? "the exchange exists with other properties: set [amqp] durable = \(!settings.exchangeDurable) to match nova.conf's [oslo_messaging_rabbit] amqp_durable_queues"
                : "the queue \(settings.queue) exists with other properties (declared by something else): use another [amqp] queue name, or delete it"
        default: hint = nil
        }
    }

    /// A problem of the settings, which retrying will not cure: credentials (403), the
    /// virtual host (530, 404), properties that differ from what exists (406). Not the codes a
    /// broker sends when it shuts down (320) or fails (541).
    var isSetup: Bool {
        if case .refused(let code) = error.kind { return [403, 404, 406, 530].contains(code) }
        return false
    }

    var description: String { "\(error)" + (hint.map { " (\($0))" } ?? "") }
}

extension BusError: ExitStatusProviding {
    /// 77 for refused credentials or rights, 64 for other settings, 69 for a broker that could
    /// not be reached.
    var exitStatus: ExitStatus {
        switch error.kind {
        case .refused(code: 403), .refused(code: 530): return .noPermission
        case .refused: return .usage
        case .connection, .timeout: return .unavailable
        case .library: return error.operation == "connect" ? .usage : .unavailable
        }
    }
}

private func fileProblem(_ path: String) -> String? { POSIX.fileProblem(path) }
