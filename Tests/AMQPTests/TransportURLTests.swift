import AMQP
import Testing

@Suite("oslo.messaging transport_url")
struct TransportURLTests {
    @Test func severalHostsAndAVirtualHost() throws {
        let url = try TransportURL(parsing: "rabbit://nova:s%40cret@rabbit1:5672,nova:s%40cret@rabbit2:5673/nova%2Fprod")
        #expect(url.hosts.map(\.host) == ["rabbit1", "rabbit2"] && url.hosts.map(\.port) == [5672, 5673])
        #expect(url.hosts.map(\.user) == ["nova", "nova"] && url.virtualHost == "nova/prod" && !url.tls)
        #expect("\(url)" == "rabbit://nova:<redacted>@rabbit1:5672,nova:<redacted>@rabbit2:5673/nova/prod")
        #expect(!"\(url)".contains("cret") && !"\(url.hosts[0].password)".contains("cret"))
    }

    @Test func defaultsAndShorthands() throws {
        let url = try TransportURL(parsing: "rabbit://guest:guest@[::1],10.0.0.2:5999/?ssl=1")
        #expect(url.hosts.map(\.host) == ["::1", "10.0.0.2"] && url.hosts.map(\.port) == [5672, 5999])
        #expect(url.hosts[1].user == "guest" && url.virtualHost == "/" && url.tls)
        #expect(try TransportURL(parsing: "amqps://u:p@h/").tls)
    }

    @Test(arguments: [
        "rabbit:/nohost", "kafka://h:9092/", "rabbit://u:p@h:99999/", "rabbit://u:p@h:x/", "rabbit://u:p%zz@h/", "rabbit://u:p@/",
    ])
    func refused(text: String) {
        #expect(throws: TransportURL.Invalid.self) { try TransportURL(parsing: text) }
    }
}

@Suite("transport_url into connections")
struct TransportURLConnectionTests {
    @Test func aUserWithoutAPasswordAndTheConfigurations() throws {
        let url = try TransportURL(parsing: "rabbit://nova@h1,h2:5673/")
        #expect(url.hosts.map(\.user) == ["nova", "nova"])
        #expect(String(reflecting: url.hosts[0].password) == "<redacted>")
        let configurations = url.configurations(connectTimeout: .seconds(2))
        #expect(configurations.map(\.host) == ["h1", "h2"] && configurations.map(\.port) == [5672, 5673])
        #expect(configurations.allSatisfy { $0.virtualHost == "/" && $0.connectTimeout == .seconds(2) })
    }

    @Test(.enabled(if: TestBroker.isAvailable, "no test broker: run scripts/test.sh"))
    func aTransportURLReachesTheBroker() throws {
        let url = try TransportURL(parsing: "rabbit://guest:guest@127.0.0.1:\(TestBroker.port!)/")
        let connection = try AMQPConnection.connect(try #require(url.configurations(connectTimeout: .seconds(3)).first))
        connection.close()
    }
}
