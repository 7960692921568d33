/// The message bus `nova-dirsvc serve` follows: section `[amqp]` of the configuration file
/// (or the NOVA_DIRSVC_AMQP_* variables), as an operator copies it from nova.conf.
///
///     [amqp]
///     transport_url_file = /etc/nova-dirsvc/transport_url   # rabbit://nova:SECRET@mq1:5672,nova:SECRET@mq2:5672/
///     # transport_url = rabbit://...   (in this file only when it is not readable by others)
///     exchange = nova                  # nova.conf [DEFAULT] control_exchange
///     topics = versioned_notifications # nova.conf [oslo_messaging_notifications] topics
///     priorities = info
///     queue = nova-dirsvc              # this service's own queue (never the shared topic.info)
///     durable = false                  # nova.conf [oslo_messaging_rabbit] amqp_durable_queues
///     prefetch = 64
///     # ssl = true / amqps://, ca_cert = /etc/pki/tls/certs/ca.pem
///
/// Only text is parsed here (the domain knows no AMQP); `serve` parses the URL itself.
extension Configuration {
    public struct Bus: Sendable {
        /// Where the transport URL is: the text itself (it may hold passwords: never print it),
        /// or a file (read when connecting, refused when other users can read it).
        public enum TransportURLSource: Sendable {
            case text(String)
            case file(String)
        }
        public var transportURL: TransportURLSource
        /// The topic exchange Nova publishes to (its `control_exchange`).
        public var exchange = "nova"
        public var topics = ["versioned_notifications"]
        public var priorities = ["info"]
        /// The service's own queue, bound to every `<topic>.<priority>`.
        public var queue = "nova-dirsvc"
        /// The exchange's durability, which must match how oslo.messaging declares it (durable
        /// only with `amqp_durable_queues`); the service's own queue is always durable.
        public var exchangeDurable = false
        /// Messages taken before they are acknowledged: the most written at once.
        public var prefetch = 64
        public var tls = false
        public var caCertificateFile: String?
        /// AMQP heartbeat in seconds (0: none).
        public var heartbeat = 30

        public static let defaultPrefetch = 64

        /// The routing keys the queue is bound with: `versioned_notifications.info`, ...
        public var routingKeys: [String] { topics.flatMap { topic in priorities.map { "\(topic).\($0)" } } }

        /// The transport URL's text (read from its file when it is in one).
        public func transportURLText() throws -> String {
            switch transportURL {
            case .text(let text): return text
            case .file(let path): return try Configuration.readPasswordFile(path, what: "transport URL file")
            }
        }

        /// nil when neither transport_url nor transport_url_file is set (no bus configured).
        init?(_ settings: Settings, bool: (Key) throws -> Bool, source: (Key) -> String) throws {
            if let text = settings[.amqpTransportURL] {
                guard settings[.amqpTransportURLFile] == nil else {
                    throw ConfigurationError("\(source(.amqpTransportURL)) and \(source(.amqpTransportURLFile)) are both set: keep one")
                }
                transportURL = .text(text)
            } else if let file = settings[.amqpTransportURLFile] {
                transportURL = .file(file)
            } else {
                return nil
            }
            func names(_ key: Key) throws -> [String]? {
                guard let text = settings[key] else { return nil }
                let list = Configuration.splitURIs(text)
                guard !list.isEmpty else { throw ConfigurationError("\(source(key)): empty") }
                for name in list where name.utf8.count > 255 || name.unicodeScalars.contains(where: { $0.value < 0x21 || $0 == "*" || $0 == "#" }) {
                    throw ConfigurationError("\(source(key)): \(Validate.quote(name)) is not a plain name of at most 255 bytes (no wildcards)")
                }
                return list
            }
            func number(_ key: Key, in range: ClosedRange<Int>) throws -> Int? {
                guard let text = settings[key] else { return nil }
                guard let value = Int(text), range.contains(value) else {
                    throw ConfigurationError("\(source(key)): \"\(text)\" is not a whole number from \(range.lowerBound) to \(range.upperBound)")
                }
                return value
            }
            exchange = try names(.amqpExchange)?.first ?? exchange
            queue = try names(.amqpQueue)?.first ?? queue
            topics = try names(.amqpTopics) ?? topics
            priorities = try names(.amqpPriorities) ?? priorities
            for (key, value) in [(Key.amqpExchange, exchange), (.amqpQueue, queue)] where settings[key].map(Configuration.splitURIs)?.count ?? 1 > 1 {
                throw ConfigurationError("\(source(key)): one name only (\(Validate.quote(value)) ...)")
            }
            exchangeDurable = try bool(.amqpDurable)
            prefetch = try number(.amqpPrefetch, in: 1...65535) ?? prefetch
            heartbeat = try number(.amqpHeartbeat, in: 0...3600) ?? heartbeat
            tls = try bool(.amqpSSL)
            caCertificateFile = settings[.amqpCACert]
        }
    }
}

/// What the domain needs to know of a transport URL's text without parsing it as a URL.
enum TransportURLText {
    /// Whether any host of `rabbit://USER:PASS@HOST,...` carries a password.
    static func hasPassword(_ text: String) -> Bool {
        guard let start = text.firstRange(of: "://") else { return false }
        let hosts = text[start.upperBound...].prefix { $0 != "/" && $0 != "?" }
        return hosts.split(separator: ",").contains { entry in
            guard let at = entry.lastIndex(of: "@") else { return false }
            return entry[..<at].contains(":")
        }
    }
}
