import AMQP
import NovaDirsvc

/// The service's side of the broker: one connection (to the first host of the transport URL
/// that answers), the topology declared on it, and the messages taken from the service's own
/// queue. After a lost connection it is simply made again: what was not acknowledged comes back.
///
/// Topology, as an oslo.messaging listener with a pool has it, but doing Nova no harm:
/// - Nova's topic exchange (`exchange`) is only looked up (a passive declare), never created or
///   declared with properties of the service's own (unless `declare_exchange`): a declare whose
///   durability differs from Nova's makes every Nova publish fail with 406. When it is not there
///   yet, the service says so and tries again: Nova creates it when it next publishes.
/// - The service's own queue (`queue`, a quorum queue by default: replicated, it survives the
///   loss of a node), never oslo.messaging's own `<topic>.<priority>`, bound with
///   `<topic>.<priority>` for each topic and priority; it dead-letters into `dead_letter_queue`
///   (after `delivery_limit` deliveries, for a quorum queue) instead of blocking.
/// Several services on one queue: one active consumer (RabbitMQ's single active consumer), the
/// others hot standbys that take over in order; competing consumers when the operator asks.
final class BusConsumer {
    let settings: Configuration.Bus
    let url: TransportURL
    private(set) var connection: AMQPConnection?
    /// The host that answered last: tried first next time.
    private var preferred = 0
    /// The queue exists with arguments other than the service's (declared by the operator, or
    /// under a policy): it is then used as it is, looked up passively.
    private(set) var queueDeclaredElsewhere = false
    /// Said once per connection: the queue's own arguments were kept.
    var notice: ((String) -> Void)?

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
        "\(url) queue \(settings.queue) (\(settings.queueType.rawValue)) bound to \(settings.exchange) with "
            + settings.routingKeys.joined(separator: ", ")
    }

    /// The host in use, for the log: `user@host:port/vhost` (no password).
    var endpoint: String? {
        guard let configuration = connection?.configuration else { return nil }
        return Self.endpoint(configuration)
    }

    static func endpoint(_ configuration: AMQPConnection.Configuration) -> String {
        "\(configuration.user)@\(configuration.host):\(configuration.port)"
            + (configuration.virtualHost == "/" ? "" : "/" + configuration.virtualHost)
    }

    /// Connects to the first host that answers (the last good one first) and declares the
    /// topology; throws the last host's error when none could be used.
    func connect() throws {
        let configurations = connectionConfigurations(heartbeat: settings.heartbeat)
        var lastError: (any Error)?
        var attempt = 0
        while attempt < configurations.count {
            let index = (preferred + attempt) % configurations.count
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
                if Self.isQueueMismatch(error, queue: settings.queue), !queueDeclaredElsewhere {
                    // the queue is there, with arguments of someone else's: use it as it is
                    queueDeclaredElsewhere = true
                    notice?(
                        "queue \(settings.queue) exists with other arguments than serve's (\(error.message)); "
                            + "used as it is: its type, delivery limit and dead-lettering are the operator's")
                    continue  // the same host again, declaring passively
                }
                lastError = error
                // a refusal that another host would repeat (credentials, settings) ends it now
                let refusal = BusError(error, settings: settings)
                if refusal.isSetup { throw refusal }
            }
            attempt += 1
        }
        throw BusError(lastError as! AMQPError, settings: settings)
    }

    private func declare(on connection: AMQPConnection) throws {
        if settings.declareExchange {
            try connection.declareExchange(
                settings.exchange, type: "topic", durable: settings.exchangeDurable,
                autoDelete: settings.exchangeAutoDelete)
        } else {
            try connection.checkExchange(settings.exchange)
        }
        if queueDeclaredElsewhere {
            try connection.checkQueue(settings.queue)
        } else {
            try connection.declareQueue(settings.deadLetterQueue, durable: true, arguments: Self.typeArguments(settings))
            try connection.declareQueue(settings.queue, durable: true, arguments: Self.queueArguments(settings))
        }
        for key in settings.routingKeys {
            try connection.bindQueue(settings.queue, exchange: settings.exchange, routingKey: key)
        }
        try connection.setPrefetch(UInt16(settings.prefetch))
        try connection.consume(settings.queue)
    }

    static func typeArguments(_ settings: Configuration.Bus) -> [QueueArgument] {
        [QueueArgument("x-queue-type", .string(settings.queueType.rawValue))]
    }

    /// The service's queue: its type; dead-lettering into the dead-letter queue through the
    /// default exchange; for a quorum queue, the delivery limit, and dead-lettering at least
    /// once (the broker keeps a message until the dead-letter queue confirmed it).
    static func queueArguments(_ settings: Configuration.Bus) -> [QueueArgument] {
        var arguments =
            typeArguments(settings) + [
                QueueArgument("x-dead-letter-exchange", .string("")),
                QueueArgument("x-dead-letter-routing-key", .string(settings.deadLetterQueue)),
            ]
        if settings.singleActiveConsumer {
            arguments.append(QueueArgument("x-single-active-consumer", .boolean(true)))
        }
        if settings.queueType == .quorum {
            arguments += [
                QueueArgument("x-delivery-limit", .integer(Int64(settings.deliveryLimit))),
                QueueArgument("x-dead-letter-strategy", .string("at-least-once")),
                QueueArgument("x-overflow", .string("reject-publish")),
            ]
        }
        return arguments
    }

    /// 406 on declaring the service's queue: it exists with other arguments or properties.
    static func isQueueMismatch(_ error: AMQPError, queue: String) -> Bool {
        error.kind == .refused(code: 406) && error.operation.hasPrefix("declare queue \(queue) ")
    }

    /// The messages that are there, at most `limit`, waiting up to `wait` for the first.
    /// Of each body, at most `max_message_bytes` are kept.
    func receive(limit: Int, wait: Duration) throws -> [AMQPConnection.Delivery] {
        guard let connection else { return [] }
        var deliveries: [AMQPConnection.Delivery] = []
        let cap = settings.maxMessageBytes
        do {
            guard let first = try connection.next(timeout: wait, maxBodyBytes: cap) else { return [] }
            deliveries.append(first)
            while deliveries.count < limit, let more = try connection.next(timeout: .zero, maxBodyBytes: cap) {
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
        try settle { try $0.ack(delivery.deliveryTag, upTo: upTo) }
    }

    /// Hands a message back to the queue, which delivers it again (a quorum queue counts the
    /// deliveries and dead-letters it past `delivery_limit`).
    func requeue(_ delivery: AMQPConnection.Delivery) throws {
        try settle { try $0.reject(delivery.deliveryTag, requeue: true) }
    }

    /// An acknowledgement or a rejection on the connection; a failed one ends the connection.
    private func settle(_ body: (AMQPConnection) throws -> Void) throws {
        guard let connection else { return }
        do {
            try body(connection)
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
        url.configurations(
            connectTimeout: connectTimeout, heartbeat: heartbeat, tls: settings.tls,
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
        case .refused(code: 404) where error.operation.hasPrefix("look up exchange"):
            hint =
                "Nova's services declare their exchange when they start and when they publish: serve waits for it. If nova.conf sets "
                + "[DEFAULT] control_exchange, set [amqp] exchange to the same (Nova's default is nova, oslo.messaging's openstack)"
        case .refused(code: 404):
            hint = "a queue's node is down or the cluster is still electing its leader: retried"
        case .refused(code: 406) where error.operation.hasPrefix("declare exchange"):
            hint =
                "the exchange exists with other properties: set [amqp] durable = true when nova.conf's [oslo_messaging_rabbit] "
                + "amqp_durable_queues or rabbit_quorum_queue is true, auto_delete = true when amqp_auto_delete is true, "
                + "or leave declare_exchange off (the default) and serve only looks the exchange up"
        case .refused(code: 406):
            hint =
                "the queue \(settings.queue) exists with other properties (declared by something else, e.g. not durable): "
                + "delete it (rabbitmqctl delete_queue \(settings.queue)) once empty, or name another [amqp] queue"
        default: hint = nil
        }
    }

    /// A problem of the settings, which retrying will not cure: credentials (403), the
    /// virtual host (530), properties that differ from what exists (406). Not 404 (an exchange
    /// Nova has not created yet, a queue whose node is down), nor the codes a broker sends when
    /// it shuts down (320) or fails (541).
    var isSetup: Bool {
        if case .refused(let code) = error.kind { return [403, 406, 530].contains(code) }
        return false
    }

    var description: String { "\(error)" + (hint.map { " (\($0))" } ?? "") }
}

extension BusError: ExitStatusProviding {
    /// 77 for refused credentials or rights, 64 for other settings (properties that differ),
    /// 69 for a broker that could not be reached or a missing exchange or queue node.
    var exitStatus: ExitStatus {
        switch error.kind {
        case .refused(code: 403), .refused(code: 530): return .noPermission
        case .refused(code: 406): return .usage
        case .refused: return .unavailable
        case .connection, .timeout: return .unavailable
        case .library: return error.operation == "connect" ? .usage : .unavailable
        }
    }
}

private func fileProblem(_ path: String) -> String? { POSIX.fileProblem(path) }
