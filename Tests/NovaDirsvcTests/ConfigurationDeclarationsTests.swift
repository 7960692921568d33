import Foundation
import Testing

@testable import NovaDirsvc

/// The settings' declarations are the one source of their defaults, ranges and meaning: the
/// parsers take them, and the example configuration and docs/settings.md are rendered from them.
@Suite("configuration declarations")
struct ConfigurationDeclarationsTests {
    typealias Key = Configuration.Key
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Enough for every section to be parsed: a base DN, a bus, an HTTP side, a Nova API.
    func everySection() -> Configuration.Settings {
        var settings = Configuration.Settings()
        settings[.baseDN] = "ou=Instances,dc=example,dc=com"
        settings[.amqpTransportURLFile] = "/etc/nova-dirsvc/transport_url"
        settings[.httpListen] = "127.0.0.1:8849"
        settings[.novaAuthURL] = "https://keystone.example.com/v3"
        settings[.novaUsername] = "nova"
        settings[.novaPasswordFile] = "/etc/nova-dirsvc/nova-password"
        settings[.novaProjectName] = "service"
        return settings
    }

    @Test(
        "the committed files are what the declarations render",
        arguments: [
            ("examples/config/nova-dirsvc.conf", Configuration.exampleFile(), "ini"),
            ("docs/settings.md", Configuration.referenceDocument(), "markdown"),
        ])
    func renderedFiles(path: String, rendered: String, format: String) throws {
        let committed = try String(contentsOf: Self.root.appending(path: path), encoding: .utf8)
        #expect(committed == rendered, "regenerate with: nova-dirsvc settings --format \(format) > \(path)")
    }

    @Test func everyKeyIsInTheExampleAndTheReference() {
        let example = Configuration.exampleFile()
        let reference = Configuration.referenceDocument()
        for key in Key.allCases {
            #expect(example.contains("\n\(key.name) = ") || example.contains("\n# \(key.name) ="), "\(key.rawValue) not in the example")
            #expect(reference.contains("`\(key.environmentVariable)`"), "\(key.rawValue) not in the reference")
        }
    }

    /// A default written out explicitly changes nothing, and every default passes its own check.
    @Test("an explicit default is the same as none", arguments: Key.allCases.filter { $0.declaration.defaultValue != nil })
    func explicitDefault(key: Key) throws {
        var unset = try Configuration(everySection())
        var settings = everySection()
        settings[key] = key.declaration.defaultValue
        var explicit = try Configuration(settings)
        unset.warnings = []  // (an explicit durable = false warns that it applies with declare_exchange only)
        explicit.warnings = []
        #expect(String(describing: unset) == String(describing: explicit))
    }

    @Test func theParsedDefaultsAreTheDeclaredOnes() throws {
        let configuration = try Configuration(everySection())
        #expect(configuration.timeout == .seconds(5))
        #expect(configuration.saslMinimumSSF == 56)
        #expect(configuration.serverBackoff == .seconds(30) && configuration.failbackSettle == .seconds(60))
        #expect(configuration.logFile == "/var/log/nova-dirsvc/events.log" && configuration.spoolDirectory == "/var/spool/nova-dirsvc")
        let bus = try #require(configuration.bus)
        #expect(bus.prefetch == 64 && bus.deliveryLimit == 20 && bus.heartbeat == 30 && bus.queueType == .quorum)
        #expect(bus.singleActiveConsumer && !bus.declareExchange && bus.maxMessageBytes == 1 << 20)
        #expect(bus.exchange == "nova" && bus.topics == ["versioned_notifications"] && bus.priorities == ["info"])
        #expect(configuration.http?.maxInFlight == 64)
        let nova = try #require(configuration.nova)
        #expect(nova.pageSize == 1000 && nova.timeout == .seconds(60) && nova.interface == "public")
        #expect(nova.reconcileInterval == nil && nova.reconcileGrace == 600)
    }

    /// A value outside its declared range is refused with where it came from and what is accepted.
    @Test(
        "out of range",
        arguments: [
            (Key.timeout, "0", "more than 0 and at most 3600"), (.timeout, "3601", "more than 0 and at most 3600"),
            (.serverBackoff, "-1", "from 0 to 86400"), (.saslSSFMin, "257", "a whole number from 0 to 256"),
            (.amqpPrefetch, "0", "a whole number from 1 to 65535"), (.amqpQueueType, "stream", "quorum or classic"),
            (.httpMaxInFlight, "many", "a whole number from 1 to 10000"), (.novaInterface, "private", "public, internal or admin"),
            (.novaReconcileInterval, "604801", "from 0 to 604800"), (.startTLS, "maybe", "true or false"),
            (.saslMech, "PLAIN", "EXTERNAL or GSSAPI"),
        ])
    func outOfRange(key: Key, value: String, accepted: String) {
        var settings = everySection()
        settings[key] = value
        #expect {
            try Configuration(settings)
        } throws: { error in
            let message = "\(error)"
            return message.contains(key.flag) && message.contains("\"\(value)\"") && message.contains(accepted)
        }
    }

    /// The refusal names where the value came from, whichever source it was.
    @Test func aRefusalNamesItsSource() throws {
        let path = NSTemporaryDirectory() + "nova-dirsvc-test-\(UUID().uuidString).conf"
        try "[ldap]\nbase_dn = dc=example,dc=com\nserver_backoff = -1\n[amqp]\ntransport_url_file = /x\nprefetch = 0\n"
            .write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        #expect {
            try Configuration.resolve(flags: .init(), configFile: path, environment: [:])
        } throws: { "\($0)" == "server_backoff in [ldap] of \(path): \"-1\" is not a number of seconds from 0 to 86400" }
        #expect {
            try Configuration.resolve(flags: .init(), configFile: path, environment: ["NOVA_DIRSVC_SERVER_BACKOFF": "1"])
        } throws: { "\($0)" == "prefetch in [amqp] of \(path): \"0\" is not a whole number from 1 to 65535" }
        #expect {
            try Configuration.resolve(flags: .init(), configFile: path, environment: ["NOVA_DIRSVC_SERVER_BACKOFF": "x"])
        } throws: { "\($0)" == "NOVA_DIRSVC_SERVER_BACKOFF: \"x\" is not a number of seconds from 0 to 86400" }
    }
}
