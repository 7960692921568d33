@testable import NovaDirsvc
import Testing

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

    @Test func severalTopicsAndPrioritiesAreBoundEach() throws {
        let bus = try #require(try resolve("[amqp]\ntransport_url = rabbit://mq/\ntopics = versioned_notifications, notifications\npriorities = info error\n").bus)
        #expect(bus.routingKeys == ["versioned_notifications.info", "versioned_notifications.error", "notifications.info", "notifications.error"])
    }

    @Test func refusals() throws {
        for (text, message) in [
            ("transport_url = rabbit://mq/\ntransport_url_file = /x\n", "both set"),
            ("transport_url = rabbit://mq/\nprefetch = 0\n", "from 1 to 65535"),
            ("transport_url = rabbit://mq/\nqueue = a b\n", "one name only"),
            ("transport_url = rabbit://mq/\ntopics = notifications.*\n", "no wildcards"),
            ("transport_url = rabbit://mq/\ndurable = maybe\n", "not true or false"),
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
