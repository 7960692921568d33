import CRabbitMQ
import Glibc

/// One `x-` argument of a queue declare (`x-queue-type: quorum`, `x-delivery-limit: 20`, ...),
/// as the broker compares them: a queue that exists with other arguments is refused with 406.
package struct QueueArgument: Sendable, Equatable, CustomStringConvertible {
    package enum Value: Sendable, Equatable {
        case string(String)
        case integer(Int64)
        case boolean(Bool)
    }
    package let key: String
    package let value: Value

    package init(_ key: String, _ value: Value) {
        self.key = key
        self.value = value
    }

    package var description: String {
        switch value {
        case .string(let text): return "\(key): \(text)"
        case .integer(let number): return "\(key): \(number)"
        case .boolean(let flag): return "\(key): \(flag)"
        }
    }

    /// Calls `body` with the arguments as an AMQP field table whose memory lasts for the call.
    static func withTable<R>(_ arguments: [QueueArgument], _ body: (amqp_table_t) throws -> R) rethrows -> R {
        guard !arguments.isEmpty else { return try body(amqp_empty_table) }
        // every string (keys and values) copied to C memory freed after the call
        var copies: [UnsafeMutablePointer<CChar>] = []
        defer { copies.forEach { free($0) } }
        func bytes(_ text: String) -> amqp_bytes_t {
            let copy = strdup(text)!
            copies.append(copy)
            return amqp_bytes_t(len: strlen(copy), bytes: UnsafeMutableRawPointer(copy))
        }
        var entries = arguments.map { argument -> amqp_table_entry_t in
            var entry = amqp_table_entry_t()
            entry.key = bytes(argument.key)
            switch argument.value {
            case .string(let text):
                entry.value.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
                entry.value.value.bytes = bytes(text)
            case .integer(let number):
                entry.value.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
                entry.value.value.i64 = number
            case .boolean(let flag):
                entry.value.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
                entry.value.value.boolean = flag ? 1 : 0
            }
            return entry
        }
        return try entries.withUnsafeMutableBufferPointer { buffer in
            try body(amqp_table_t(num_entries: Int32(buffer.count), entries: buffer.baseAddress))
        }
    }
}
