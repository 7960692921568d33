import AMQP
import Foundation
import Testing

/// Reading frame by frame (bodies capped, headers), quorum queue arguments, passive look-ups and
/// rejection, against the test broker.
@Suite("AMQP consuming against RabbitMQ", .enabled(if: TestBroker.isAvailable, "no test broker: run scripts/test.sh"))
struct ConsumingIntegrationTests {
    private func fresh() -> String { "nd-test-\(UUID().uuidString.prefix(8))" }

    @Test func aBodyOverTheCapIsReadPastAndCutNotHeld() throws {
        let queue = fresh()
        let connection = try AMQPConnection.connect(TestBroker.configuration())
        defer { connection.close() }
        try connection.declareQueue(queue, durable: false)
        // 5 MB: many frames (131072 bytes each), then a small message behind it
        let big = [UInt8](repeating: 0x61, count: 5_000_000)
        try connection.publish(exchange: "", routingKey: queue, body: big)
        try connection.publish(exchange: "", routingKey: queue, body: Array("small".utf8))
        try connection.consume(queue)
        let first = try #require(try connection.next(timeout: .seconds(5), maxBodyBytes: 1000))
        #expect(first.size == 5_000_000 && first.body.count == 1000 && first.isTruncated)
        let second = try #require(try connection.next(timeout: .seconds(5), maxBodyBytes: 1000))
        #expect(String(decoding: second.body, as: UTF8.self) == "small" && !second.isTruncated)
        try connection.ack(second.deliveryTag, upTo: true)
    }

    @Test func aQuorumQueueCountsDeliveriesAndDeadLettersPastItsLimit() throws {
        let queue = fresh()
        let dead = fresh()
        let connection = try AMQPConnection.connect(TestBroker.configuration())
        defer { connection.close() }
        try connection.declareQueue(dead, durable: true, arguments: [QueueArgument("x-queue-type", .string("quorum"))])
        try connection.declareQueue(
            queue, durable: true,
            arguments: [
                QueueArgument("x-queue-type", .string("quorum")), QueueArgument("x-delivery-limit", .integer(1)),
                QueueArgument("x-dead-letter-exchange", .string("")), QueueArgument("x-dead-letter-routing-key", .string(dead)),
            ])
        try connection.publish(exchange: "", routingKey: queue, body: Array("poison".utf8))
        try connection.consume(queue)
        let first = try #require(try connection.next(timeout: .seconds(5)))
        #expect(first.headers["x-delivery-count"] == nil)
        try connection.reject(first.deliveryTag, requeue: true)
        let again = try #require(try connection.next(timeout: .seconds(5)))
        #expect(again.headers["x-delivery-count"] == "1" && again.redelivered)
        try connection.reject(again.deliveryTag, requeue: true)
        // past the limit: in the dead-letter queue, not delivered again
        #expect(try connection.next(timeout: .milliseconds(500)) == nil)
        let look = try AMQPConnection.connect(TestBroker.configuration())
        defer { look.close() }
        #expect(try look.checkQueue(dead).messages == 1)
        // the same queue declared with other arguments: 406, named
        let other = try AMQPConnection.connect(TestBroker.configuration())
        defer { other.close() }
        #expect { try other.declareQueue(queue, durable: true) } throws: { error in
            (error as? AMQPError)?.kind == .refused(code: 406) && "\(error)".contains(queue)
        }
    }

    @Test func passiveLookUpsCreateNothing() throws {
        let name = fresh()
        let connection = try AMQPConnection.connect(TestBroker.configuration())
        #expect { try connection.checkExchange(name) } throws: { ($0 as? AMQPError)?.kind == .refused(code: 404) }
        let again = try AMQPConnection.connect(TestBroker.configuration())
        defer { again.close() }
        #expect { try again.checkQueue(name) } throws: { ($0 as? AMQPError)?.kind == .refused(code: 404) }
        let third = try AMQPConnection.connect(TestBroker.configuration())
        defer { third.close() }
        #expect { try third.checkExchange(name) } throws: { ($0 as? AMQPError)?.kind == .refused(code: 404) }
    }
}
