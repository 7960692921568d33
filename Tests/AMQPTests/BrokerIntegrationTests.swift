import AMQP
import Foundation
import Testing

/// The AMQP layer against a real RabbitMQ that scripts/test.sh starts (scripts/rabbitmq-start.sh)
/// and names in NOVA_DIRSVC_TEST_AMQP_PORT; skipped with a message without one (never in CI).
enum TestBroker {
    static var port: Int? { ProcessInfo.processInfo.environment["NOVA_DIRSVC_TEST_AMQP_PORT"].flatMap(Int.init) }
    static var isAvailable: Bool { port != nil }
    static var isRequired: Bool { ProcessInfo.processInfo.environment["NOVA_DIRSVC_TEST_REQUIRE_ALL"] == "1" }
    static func configuration(password: String = "guest") -> AMQPConnection.Configuration {
        .init(host: "127.0.0.1", port: port ?? 1, password: Secret(password), connectTimeout: .seconds(3))
    }
}

@Test("the broker is there when scripts/test.sh says it must be")
func brokerIsThereWhenRequired() {
    if TestBroker.isRequired { #expect(TestBroker.isAvailable, "NOVA_DIRSVC_TEST_REQUIRE_ALL is set, but no test broker") }
}

@Suite("AMQP against RabbitMQ", .enabled(if: TestBroker.isAvailable, "no test broker: run scripts/test.sh"))
struct BrokerIntegrationTests {
    @Test func declareBindConsumeAcknowledge() throws {
        let exchange = "nd-test-\(UUID().uuidString.prefix(8))"
        let queue = "\(exchange)-queue"
        let connection = try AMQPConnection.connect(TestBroker.configuration())
        defer { connection.close() }
        try connection.declareExchange(exchange, durable: false)
        try connection.declareQueue(queue, durable: true)
        try connection.bindQueue(queue, exchange: exchange, routingKey: "versioned_notifications.info")
        try connection.setPrefetch(10)
        try connection.publish(exchange: exchange, routingKey: "versioned_notifications.info", body: Array("one".utf8))
        try connection.publish(exchange: exchange, routingKey: "other.info", body: Array("not bound".utf8))
        try connection.publish(exchange: exchange, routingKey: "versioned_notifications.info", body: Array("two".utf8))
        try connection.consume(queue)
        let first = try #require(try connection.next(timeout: .seconds(5)))
        let second = try #require(try connection.next(timeout: .seconds(5)))
        #expect(String(decoding: first.body, as: UTF8.self) == "one" && String(decoding: second.body, as: UTF8.self) == "two")
        #expect(first.routingKey == "versioned_notifications.info" && first.exchange == exchange && !first.redelivered)
        try connection.ack(first.deliveryTag)
        // nothing else comes (the unbound routing key went nowhere)
        #expect(try connection.next(timeout: .milliseconds(300)) == nil)
        connection.close()
        // the unacknowledged message comes back, marked redelivered, to the next consumer
        let again = try AMQPConnection.connect(TestBroker.configuration())
        defer { again.close() }
        try again.consume(queue)
        let redelivered = try #require(try again.next(timeout: .seconds(5)))
        #expect(String(decoding: redelivered.body, as: UTF8.self) == "two" && redelivered.redelivered)
        try again.ack(redelivered.deliveryTag)
    }

    @Test func aWrongPasswordIsRefusedAndNotShown() {
        #expect {
            _ = try AMQPConnection.connect(TestBroker.configuration(password: "not-the-password"))
        } throws: { error in
            guard let error = error as? AMQPError else { return false }
            return error.isAccessRefused && !"\(error)".contains("not-the-password")
        }
    }

    @Test func anExchangeDeclaredWithOtherPropertiesIsNamed() throws {
        let exchange = "nd-test-\(UUID().uuidString.prefix(8))"
        let connection = try AMQPConnection.connect(TestBroker.configuration())
        defer { connection.close() }
        try connection.declareExchange(exchange, durable: false)
        let other = try AMQPConnection.connect(TestBroker.configuration())
        defer { other.close() }
        #expect { try other.declareExchange(exchange, durable: true) } throws: { error in
            (error as? AMQPError)?.kind == .refused(code: 406) && "\(error)".contains("durable")
        }
    }

    @Test func noBrokerIsAConnectionError() throws {
        var configuration = TestBroker.configuration()
        let socket = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        close(socket)
        configuration.port = Int(UInt16(bigEndian: address.sin_port))
        #expect { _ = try AMQPConnection.connect(configuration) } throws: { ($0 as? AMQPError)?.kind == .connection }
    }
}
