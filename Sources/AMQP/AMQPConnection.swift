import CRabbitMQ
import Glibc

/// One connection to an AMQP 0-9-1 broker (RabbitMQ) over rabbitmq-c, with one channel: an
/// explicit lifetime (`close()`, or deinit), synchronous calls with timeouts.
///
/// Not thread-safe: use one connection from one thread at a time. The process should ignore
/// SIGPIPE (as the nova-dirsvc executable does): a broker that goes away mid-write would
/// otherwise kill it.
package final class AMQPConnection {
    /// Where and how to connect.
    package struct Configuration: Sendable {
        package var host: String
        package var port: Int
        package var virtualHost: String
        package var user: String
        /// Sent in the login and nowhere else (not in errors, not in descriptions).
        package var password: Secret
        package var connectTimeout: Duration
        /// AMQP heartbeat in seconds (0: none).
        package var heartbeat: Int
        /// TLS (amqps): the broker's certificate is verified, its name included, against
        /// `caCertificateFile` (or the system's CA store when nil). Never unverified.
        package var tls: Bool
        package var caCertificateFile: String?

        package init(
            host: String, port: Int = 5672, virtualHost: String = "/", user: String = "guest",
            password: Secret = Secret("guest"), connectTimeout: Duration = .seconds(5), heartbeat: Int = 60,
            tls: Bool = false, caCertificateFile: String? = nil
        ) {
            self.tls = tls
            self.caCertificateFile = caCertificateFile
            self.host = host
            self.port = port
            self.virtualHost = virtualHost
            self.user = user
            self.password = password
            self.connectTimeout = connectTimeout
            self.heartbeat = heartbeat
        }
    }

    var state: amqp_connection_state_t?
    package let configuration: Configuration
    let channel: amqp_channel_t = 1

    private init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    /// Connects (within `connectTimeout`), logs in with PLAIN, opens the channel.
    package static func connect(_ configuration: Configuration) throws -> AMQPConnection {
        let connection = AMQPConnection(configuration)
        guard let state = amqp_new_connection() else {
            throw AMQPError(.library, operation: "connect", message: "cannot allocate a connection")
        }
        connection.state = state
        guard let socket = configuration.tls ? amqp_ssl_socket_new(state) : amqp_tcp_socket_new(state) else {
            throw AMQPError(.library, operation: "connect", message: "cannot create a socket")
        }
        if configuration.tls {
            amqp_ssl_socket_set_verify_peer(socket, 1)
            amqp_ssl_socket_set_verify_hostname(socket, 1)
            if let file = configuration.caCertificateFile {
                let status = amqp_ssl_socket_set_cacert(socket, file)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw AMQPError(
                        .library, operation: "connect",
                        message: "cannot use the CA certificate file \(file): "
                            + String(cString: amqp_error_string2(status)))
                }
            }
        }
        // a broker that takes the connection and then says nothing: every RPC (login, declare,
        // bind) and the AMQP handshake give up after the connect timeout
        var timeout = Self.timeval(configuration.connectTimeout)
        _ = amqp_set_handshake_timeout(state, &timeout)
        _ = amqp_set_rpc_timeout(state, &timeout)
        let status = amqp_socket_open_noblock(socket, configuration.host, Int32(configuration.port), &timeout)
        if status != AMQP_STATUS_OK.rawValue {
            throw AMQPError(
                status == AMQP_STATUS_TIMEOUT.rawValue ? .timeout : .connection, operation: "connect",
                message: "\(configuration.host):\(configuration.port): " + String(cString: amqp_error_string2(status)))
        }
        let reply = configuration.password.value.withCString { password in
            crabbitmq_login_plain(
                state, configuration.virtualHost, 0, 131072, Int32(configuration.heartbeat),
                configuration.user, password)
        }
        try connection.check(reply, "login as \(configuration.user) on \(configuration.host):\(configuration.port)")
        _ = amqp_channel_open(state, connection.channel)
        try connection.check(amqp_get_rpc_reply(state), "open a channel")
        return connection
    }

    deinit { close() }

    /// Closes the channel and the connection, and frees them. Safe to call more than once.
    package func close() {
        guard let state else { return }
        _ = amqp_channel_close(state, channel, Int32(AMQP_REPLY_SUCCESS))
        _ = amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
        amqp_destroy_connection(state)
        self.state = nil
    }

    func handle(_ operation: String) throws -> amqp_connection_state_t {
        guard let state else { throw AMQPError(.connection, operation: operation, message: "the connection is closed") }
        return state
    }

    // MARK: - Topology

    /// Whether the exchange exists (a passive declare: it is neither created nor changed, its
    /// properties are not compared). A missing exchange is `.refused(code: 404)`, and the broker
    /// then closes the channel: this connection is of no more use.
    package func checkExchange(_ name: String) throws {
        let state = try handle("look up exchange")
        withBytes(name, "topic") { b in
            _ = amqp_exchange_declare(state, channel, b[0], b[1], 1, 0, 0, 0, amqp_empty_table)
        }
        try check(amqp_get_rpc_reply(state), "look up exchange \(name)")
    }

    /// Declares a topic (or other) exchange; one that exists with other properties (durable or
    /// auto-deleted or not) is refused by the broker with 406, named as such.
    package func declareExchange(_ name: String, type: String = "topic", durable: Bool, autoDelete: Bool = false) throws {
        let state = try handle("declare exchange")
        withBytes(name, type) { b in
            _ = amqp_exchange_declare(state, channel, b[0], b[1], 0, durable ? 1 : 0, autoDelete ? 1 : 0, 0, amqp_empty_table)
        }
        try check(amqp_get_rpc_reply(state), "declare exchange \(name) (\(type), durable: \(durable), auto_delete: \(autoDelete))")
    }

    /// Declares a queue of this service's own (not exclusive, not auto-deleted: it outlives
    /// the consumer, so messages sent while it is away wait for it), with `arguments` such as
    /// `x-queue-type`. One that exists with other properties or arguments is refused with 406.
    package func declareQueue(_ name: String, durable: Bool, arguments: [QueueArgument] = []) throws {
        let state = try handle("declare queue")
        withBytes(name) { b in
            QueueArgument.withTable(arguments) { table in
                _ = amqp_queue_declare(state, channel, b[0], 0, durable ? 1 : 0, 0, 0, table)
            }
        }
        let described = arguments.isEmpty ? "" : ", " + arguments.map(\.description).joined(separator: ", ")
        try check(amqp_get_rpc_reply(state), "declare queue \(name) (durable: \(durable)\(described))")
    }

    /// A queue's message and consumer counts (a passive declare: nothing is created or
    /// compared). A missing queue is `.refused(code: 404)`, after which this connection is of no
    /// more use.
    @discardableResult
    package func checkQueue(_ name: String) throws -> (messages: Int, consumers: Int) {
        let state = try handle("look up queue")
        let ok = withBytes(name) { b in amqp_queue_declare(state, channel, b[0], 1, 0, 0, 0, amqp_empty_table) }
        try check(amqp_get_rpc_reply(state), "look up queue \(name)")
        guard let ok else { return (0, 0) }
        return (Int(ok.pointee.message_count), Int(ok.pointee.consumer_count))
    }

    package func bindQueue(_ queue: String, exchange: String, routingKey: String) throws {
        let state = try handle("bind queue")
        withBytes(queue, exchange, routingKey) { b in _ = amqp_queue_bind(state, channel, b[0], b[1], b[2], amqp_empty_table) }
        try check(amqp_get_rpc_reply(state), "bind queue \(queue) to \(exchange) with \(routingKey)")
    }

    /// How many messages the broker sends before they are acknowledged.
    package func setPrefetch(_ count: UInt16) throws {
        let state = try handle("set prefetch")
        _ = amqp_basic_qos(state, channel, 0, count, 0)
        try check(amqp_get_rpc_reply(state), "set prefetch \(count)")
    }

    // MARK: - Messages

    /// Starts consuming from `queue` with acknowledgements.
    package func consume(_ queue: String) throws {
        let state = try handle("consume")
        withBytes(queue) { b in _ = amqp_basic_consume(state, channel, b[0], amqp_empty_bytes, 0, 0, 0, amqp_empty_table) }
        try check(amqp_get_rpc_reply(state), "consume from \(queue)")
    }

    /// Acknowledges one message (with `upTo`: it and every earlier one not yet acknowledged, in
    /// one frame): the broker forgets it.
    package func ack(_ deliveryTag: UInt64, upTo: Bool = false) throws {
        let state = try handle("acknowledge")
        let status = amqp_basic_ack(state, channel, deliveryTag, upTo ? 1 : 0)
        if status != AMQP_STATUS_OK.rawValue {
            throw AMQPError(.connection, operation: "acknowledge", message: String(cString: amqp_error_string2(status)))
        }
    }

    /// Hands a message back: `requeue` puts it back in the queue (a quorum queue counts the
    /// delivery, and past its delivery limit dead-letters it); otherwise the queue drops it, or
    /// dead-letters it when it has a dead-letter exchange.
    package func reject(_ deliveryTag: UInt64, requeue: Bool) throws {
        let state = try handle("reject")
        let status = amqp_basic_nack(state, channel, deliveryTag, 0, requeue ? 1 : 0)
        if status != AMQP_STATUS_OK.rawValue {
            throw AMQPError(.connection, operation: "reject", message: String(cString: amqp_error_string2(status)))
        }
    }

    /// Publishes a persistent message (used by tests and tools; the service only consumes).
    package func publish(exchange: String, routingKey: String, body: [UInt8]) throws {
        let state = try handle("publish")
        var properties = amqp_basic_properties_t()
        properties._flags = UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG)
        properties.delivery_mode = 2
        let status = withBytes("application/json", exchange, routingKey) { b -> Int32 in
            properties.content_type = b[0]
            return body.withUnsafeBytes { raw in
                let bytes = amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
                return amqp_basic_publish(state, channel, b[1], b[2], 0, 0, &properties, bytes)
            }
        }
        if status != AMQP_STATUS_OK.rawValue {
            throw AMQPError(.connection, operation: "publish", message: String(cString: amqp_error_string2(status)))
        }
    }

    // MARK: -

    func check(_ reply: amqp_rpc_reply_t, _ operation: String) throws {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let status = reply.library_error
            let kind: AMQPError.Kind =
                status == AMQP_STATUS_TIMEOUT.rawValue
                ? .timeout
                : (status == AMQP_STATUS_CONNECTION_CLOSED.rawValue || status == AMQP_STATUS_SOCKET_ERROR.rawValue
                    || status == AMQP_STATUS_SSL_ERROR.rawValue || status == AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue)
                    ? .connection : .library
            throw AMQPError(kind, operation: operation, message: String(cString: amqp_error_string2(status)))
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            try closedByServer(reply.reply.id, reply.reply.decoded, operation)
            throw AMQPError(.library, operation: operation, message: "an unexpected method from the broker (\(reply.reply.id))")
        default:
            throw AMQPError(.library, operation: operation, message: "no reply")
        }
    }

    /// When `method` is the broker closing the connection or the channel: answers it, frees the
    /// connection and throws the broker's code and text. Returns for any other method.
    func closedByServer(_ method: amqp_method_number_t, _ decoded: UnsafeMutableRawPointer?, _ operation: String) throws {
        guard let decoded else { return }
        if method == AMQP_CONNECTION_CLOSE_METHOD {
            // copied out before the connection (and the memory the text is in) is freed
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let text = String(decoding: Self.bytes(close.reply_text), as: UTF8.self)
            if let state { _ = amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, nil) }
            destroyAfterServerClose()
            throw AMQPError(.refused(code: close.reply_code), operation: operation, message: text)
        }
        if method == AMQP_CHANNEL_CLOSE_METHOD {
            let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let text = String(decoding: Self.bytes(close.reply_text), as: UTF8.self)
            if let state { _ = amqp_send_method(state, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, nil) }
            destroyAfterServerClose()
            throw AMQPError(.refused(code: close.reply_code), operation: operation, message: text)
        }
    }

    /// After the broker closed the channel or the connection, this connection is of no more use.
    private func destroyAfterServerClose() {
        if let state { amqp_destroy_connection(state) }
        state = nil
    }

    /// Calls `body` with the strings as amqp_bytes_t that stay valid for the whole call
    /// (amqp_cstring_bytes only points at a C string: a Swift string's bridged one would be gone).
    func withBytes<R>(_ strings: String..., body: ([amqp_bytes_t]) throws -> R) rethrows -> R {
        let copies = strings.map { strdup($0)! }
        defer { copies.forEach { free($0) } }
        return try body(copies.map { amqp_bytes_t(len: strlen($0), bytes: UnsafeMutableRawPointer($0)) })
    }

    static func bytes(_ value: amqp_bytes_t) -> [UInt8] {
        guard let base = value.bytes, value.len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: value.len))
    }

    static func timeval(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}

/// A secret (a broker password): its description is redacted, so it can be put in any value
/// that gets printed or logged.
package struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let value: String
    package init(_ value: String) { self.value = value }
    package var description: String { "<redacted>" }
    package var debugDescription: String { "<redacted>" }
}
