import Testing

@testable import NovaDirsvc

/// `[amqp]`: what the file says, the defaults Nova's own settings imply, and what is refused.
@Suite struct ConfigurationBusTests {
    func resolve(_ text: String, environment: [String: String] = [:]) throws -> Configuration {
        let file = try ConfigurationFile.parse("[ldap]\nbase_dn = ou=Instances,dc=example,dc=com\n" + text, path: "test.conf")
        var configuration = try Configuration(Configuration.Settings().over(file.settings))
        configuration.warnings = file.warnings
        return configuration
    }

    @Test func noTransportURLMeansNoBus() throws {
        #expect(try resolve("").bus == nil)
    }

    @Test func theDefaultsAreNovas() throws {
        let bus = try #require(try resolve("[amqp]\ntransport_url = rabbit://nova:secret@mq:5672/\n").bus)
        #expect(bus.exchange == "nova" && bus.queue == "nova-dirsvc" && !bus.exchangeDurable && bus.prefetch == 64)
        #expect(bus.routingKeys == ["versioned_notifications.info"])
        #expect(try bus.transportURLText() == "rabbit://nova:secret@mq:5672/")
    }

    @Test func theQueueIsAQuorumQueueWithADeadLetterQueueByDefault() throws {
        let bus = try #require(try resolve("[amqp]\ntransport_url = rabbit://mq/\n").bus)
        #expect(bus.queueType == .quorum && bus.deliveryLimit == 20 && bus.deadLetterQueue == "nova-dirsvc.dead")
        #expect(bus.maxMessageBytes == 1 << 20 && !bus.declareExchange)
        let classic = try #require(
            try resolve(
                "[amqp]\ntransport_url = rabbit://mq/\nqueue = q\nqueue_type = Classic\n"
                    + "dead_letter_queue = parked\nmax_message_bytes = 8192\n"
            ).bus)
        #expect(classic.queueType == .classic && classic.deadLetterQueue == "parked" && classic.maxMessageBytes == 8192)
    }

    @Test func settingsThatDoNothingAreSaid() throws {
        let file = try ConfigurationFile.parse(
            "[ldap]\nbase_dn = ou=x,dc=example\n[amqp]\ntransport_url = rabbit://mq/\n"
                + "durable = true\nqueue_type = classic\ndelivery_limit = 5\n", path: "t.conf")
        let warnings = try Configuration(Configuration.Settings().over(file.settings)).warnings
        #expect(warnings.contains { $0.contains("durable") && $0.contains("declare_exchange = true") })
        #expect(warnings.contains { $0.contains("delivery_limit") && $0.contains("quorum only") })
    }

    @Test func severalTopicsAndPrioritiesAreBoundEach() throws {
        let bus = try #require(
            try resolve("[amqp]\ntransport_url = rabbit://mq/\ntopics = versioned_notifications, notifications\npriorities = info error\n")
                .bus)
        #expect(
            bus.routingKeys == [
                "versioned_notifications.info", "versioned_notifications.error", "notifications.info", "notifications.error",
            ])
    }

    @Test func refusals() throws {
        for (text, message) in [
            ("transport_url = rabbit://mq/\ntransport_url_file = /x\n", "both set"),
            ("transport_url = rabbit://mq/\nprefetch = 0\n", "from 1 to 65535"),
            ("transport_url = rabbit://mq/\nqueue = a b\n", "one name only"),
            ("transport_url = rabbit://mq/\ntopics = notifications.*\n", "no wildcards"),
            ("transport_url = rabbit://mq/\ndurable = maybe\n", "not true or false"),
            ("transport_url = rabbit://mq/\nqueue = versioned_notifications.info\n", "oslo.messaging itself declares"),
            ("transport_url = rabbit://mq/\ntopics = notifications\nqueue = notifications.warn\n", "oslo.messaging itself declares"),
            ("transport_url = rabbit://mq/\nqueue = amq.gen-1\n", "RabbitMQ reserves"),
            ("transport_url = rabbit://mq/\nqueue = q\ndead_letter_queue = q\n", "must not be the queue itself"),
            ("transport_url = rabbit://mq/\nqueue_type = stream\n", "not quorum or classic"),
            ("transport_url = rabbit://mq/\ndelivery_limit = 0\n", "from 1 to 1000"),
            ("transport_url = rabbit://mq/\nmax_message_bytes = 1\n", "from 4096"),
        ] {
            #expect { try resolve("[amqp]\n" + text) } throws: { "\($0)".contains(message) }
        }
    }

    @Test func amqpKeysLiveInTheirSectionOnly() throws {
        let configuration = try resolve("[amqp]\ntransport_url = rabbit://mq/\nuri = ldap://x\n[ldap]\nexchange = x\n")
        #expect(configuration.warnings.count == 2)
        #expect(configuration.warnings[0].contains("unknown key \"uri\" in [amqp]"))
        #expect(configuration.warnings[1].contains("unknown key \"exchange\" in [ldap]"))
        #expect(Configuration.Key.amqpTransportURL.environmentVariable == "NOVA_DIRSVC_AMQP_TRANSPORT_URL")
    }

    @Test func passwordsInTransportURLsAreFound() {
        #expect(TransportURLText.hasPassword("rabbit://nova:secret@mq:5672/"))
        #expect(TransportURLText.hasPassword("rabbit://nova@mq1,nova:s@mq2/"))
        #expect(!TransportURLText.hasPassword("rabbit://nova@mq:5672/"))
        #expect(!TransportURLText.hasPassword("rabbit://mq:5672/vhost:x@y"))
    }
}

/// `[http]`: the listen address forms, the TLS pair, the bound, and the insecure-listen policy.
@Suite struct ConfigurationHTTPTests {
    func resolve(_ text: String) throws -> Configuration {
        let file = try ConfigurationFile.parse("[ldap]\nbase_dn = ou=Instances,dc=example,dc=com\n[http]\n" + text, path: "test.conf")
        return try Configuration(Configuration.Settings().over(file.settings))
    }

    @Test func listenForms() throws {
        let v4 = try #require(try resolve("listen = 127.0.0.1:8849\n").http)
        #expect(v4.host == "127.0.0.1" && v4.port == 8849 && v4.maxInFlight == 64 && !v4.tls)
        let v6 = try #require(try resolve("listen = [::1]:8776\nmax_in_flight = 8\n").http)
        #expect(v6.host == "::1" && v6.port == 8776 && v6.maxInFlight == 8)
        #expect(try resolve("").http == nil)
    }

    @Test func refusals() throws {
        for (text, message) in [
            ("listen = 8849\n", "is not HOST:PORT"),
            ("listen = localhost:http\n", "is not HOST:PORT"),
            ("listen = 127.0.0.1:8849\ntls_cert = /x.pem\n", "go together"),
            ("listen = 127.0.0.1:8849\nmax_in_flight = 0\n", "from 1 to 10000"),
            ("listen = 0.0.0.0:8849\n", "without TLS"),
            ("listen = 192.0.2.1:8849\n", "without TLS"),
        ] {
            #expect { try resolve(text) } throws: { "\($0)".contains(message) }
        }
        #expect(try resolve("listen = 0.0.0.0:8849\nallow_insecure_listen = true\n").http?.host == "0.0.0.0")
        #expect(try resolve("listen = 0.0.0.0:8849\ntls_cert = /c.pem\ntls_key = /k.pem\n").http?.tls == true)
    }
}
