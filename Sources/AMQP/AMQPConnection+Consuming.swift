import CRabbitMQ
import Glibc

/// Taking messages off a queue, frame by frame: a body larger than the caller's limit is read
/// off the wire and dropped past the limit, never held whole (rabbitmq-c's
/// amqp_consume_message would assemble it in memory first).
extension AMQPConnection {
    /// A message taken from a queue; acknowledge it with `ack(_:)` once it is safe.
    package struct Delivery: Sendable {
        package let deliveryTag: UInt64
        package let redelivered: Bool
        package let exchange: String
        package let routingKey: String
        package let messageID: String?
        package let contentType: String?
        package let contentEncoding: String?
        /// The headers whose values are text or whole numbers (numbers in decimal): kombu's
        /// `compression`, a quorum queue's `x-delivery-count`, ...
        package let headers: [String: String]
        /// The body, or its first `maxBodyBytes` when it is larger (`isTruncated`).
        package let body: [UInt8]
        /// The body's whole size, as the broker announced it.
        package let size: Int

        package var isTruncated: Bool { body.count < size }

        package init(
            deliveryTag: UInt64, redelivered: Bool = false, exchange: String = "", routingKey: String = "",
            messageID: String? = nil, contentType: String? = nil, contentEncoding: String? = nil,
            headers: [String: String] = [:], body: [UInt8], size: Int? = nil
        ) {
            self.deliveryTag = deliveryTag
            self.redelivered = redelivered
            self.exchange = exchange
            self.routingKey = routingKey
            self.messageID = messageID
            self.contentType = contentType
            self.contentEncoding = contentEncoding
            self.headers = headers
            self.body = body
            self.size = size ?? body.count
        }
    }

    /// The next message, waiting up to `timeout`; nil when none came in that time (or a frame
    /// that is not a delivery came and was acted on). Of a body, at most `maxBodyBytes` are kept.
    package func next(timeout: Duration, maxBodyBytes: Int = .max) throws -> Delivery? {
        let state = try handle("receive")
        amqp_maybe_release_buffers(state)
        var frame = amqp_frame_t()
        guard try waitFrame(state, &frame, timeout: timeout) else { return nil }
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return nil }  // a stray frame: passed over
        let method = frame.payload.method
        guard method.id == AMQP_BASIC_DELIVER_METHOD, let decoded = method.decoded else {
            try otherMethod(method)
            return nil
        }
        let deliver = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
        let exchange = Self.text(deliver.exchange)
        let routingKey = Self.text(deliver.routing_key)

        // the content header, then the body frames: each within the connect timeout (the
        // broker sends them together; a gap means the connection is in trouble)
        guard try waitFrame(state, &frame, timeout: configuration.connectTimeout), frame.frame_type == UInt8(AMQP_FRAME_HEADER),
            let header = frame.payload.properties.decoded
        else {
            throw AMQPError(.timeout, operation: "receive", message: "a delivery without its content header")
        }
        let size = Int(frame.payload.properties.body_size)
        let properties = header.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee
        func property(_ flag: Int32, _ value: amqp_bytes_t) -> String? {
            (properties._flags & UInt32(flag)) != 0 ? Self.text(value) : nil
        }
        let messageID = property(AMQP_BASIC_MESSAGE_ID_FLAG, properties.message_id)
        let contentType = property(AMQP_BASIC_CONTENT_TYPE_FLAG, properties.content_type)
        let contentEncoding = property(AMQP_BASIC_CONTENT_ENCODING_FLAG, properties.content_encoding)
        let headers = (properties._flags & UInt32(AMQP_BASIC_HEADERS_FLAG)) != 0 ? Self.headers(properties.headers) : [:]

        var body: [UInt8] = []
        body.reserveCapacity(min(size, maxBodyBytes))
        var received = 0
        while received < size {
            amqp_maybe_release_buffers_on_channel(state, channel)  // the frames read so far are copied out
            guard try waitFrame(state, &frame, timeout: configuration.connectTimeout),
                frame.frame_type == UInt8(AMQP_FRAME_BODY)
            else {
                throw AMQPError(.timeout, operation: "receive", message: "a delivery whose body stopped at \(received) of \(size) bytes")
            }
            let fragment = frame.payload.body_fragment
            received += fragment.len
            let room = maxBodyBytes - body.count
            if room > 0, let base = fragment.bytes {
                body.append(contentsOf: UnsafeRawBufferPointer(start: base, count: min(room, fragment.len)))
            }
        }
        return Delivery(
            deliveryTag: deliver.delivery_tag, redelivered: deliver.redelivered != 0, exchange: exchange,
            routingKey: routingKey, messageID: messageID, contentType: contentType,
            contentEncoding: contentEncoding, headers: headers, body: body, size: size)
    }

    /// One frame within `timeout`: false when none came, throws when the connection failed.
    private func waitFrame(_ state: amqp_connection_state_t, _ frame: inout amqp_frame_t, timeout: Duration) throws -> Bool {
        var wait = Self.timeval(timeout)
        let status = amqp_simple_wait_frame_noblock(state, &frame, &wait)
        if status == AMQP_STATUS_TIMEOUT.rawValue { return false }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connection, operation: "receive", message: String(cString: amqp_error_string2(status)))
        }
        return true
    }

    /// A method other than a delivery, read and acted on: the broker closing the connection or
    /// the channel, or cancelling the consumer (its queue was deleted, or its node went down),
    /// ends the connection with an error; anything else (connection.blocked, a returned
    /// message) is passed over.
    private func otherMethod(_ method: amqp_method_t) throws {
        try closedByServer(method.id, method.decoded, "receive")
        if method.id == AMQP_BASIC_CANCEL_METHOD {
            throw AMQPError(
                .connection, operation: "receive",
                message: "the broker cancelled the consumer (the queue was deleted, or its node went down)")
        }
    }

    /// A field table's entries whose values are text or whole numbers.
    private static func headers(_ table: amqp_table_t) -> [String: String] {
        guard let entries = table.entries, table.num_entries > 0 else { return [:] }
        var headers: [String: String] = [:]
        for entry in UnsafeBufferPointer(start: entries, count: Int(table.num_entries)) {
            let value = entry.value
            let text: String?
            switch UInt32(value.kind) {
            case AMQP_FIELD_KIND_UTF8.rawValue, AMQP_FIELD_KIND_BYTES.rawValue: text = Self.text(value.value.bytes)
            case AMQP_FIELD_KIND_I8.rawValue: text = String(value.value.i8)
            case AMQP_FIELD_KIND_U8.rawValue: text = String(value.value.u8)
            case AMQP_FIELD_KIND_I16.rawValue: text = String(value.value.i16)
            case AMQP_FIELD_KIND_U16.rawValue: text = String(value.value.u16)
            case AMQP_FIELD_KIND_I32.rawValue: text = String(value.value.i32)
            case AMQP_FIELD_KIND_U32.rawValue: text = String(value.value.u32)
            case AMQP_FIELD_KIND_I64.rawValue: text = String(value.value.i64)
            case AMQP_FIELD_KIND_U64.rawValue: text = String(value.value.u64)
            default: text = nil
            }
            if let text { headers[Self.text(entry.key)] = text }
        }
        return headers
    }

    static func text(_ value: amqp_bytes_t) -> String { String(decoding: bytes(value), as: UTF8.self) }
}
