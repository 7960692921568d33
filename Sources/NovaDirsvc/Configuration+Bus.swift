/// The message bus `nova-dirsvc serve` follows: section `[amqp]` of the configuration file
/// (or the NOVA_DIRSVC_AMQP_* variables), as an operator copies it from nova.conf. Each key's
/// kind, default and meaning: Configuration+Declarations.swift (rendered in
/// examples/config/nova-dirsvc.conf). Only text is parsed here (the domain knows no AMQP);
/// `serve` parses the URL itself.
extension Configuration {
    package struct Bus: Sendable {
        /// Where the transport URL is: the text itself (it may hold passwords: never print it),
        /// or a file (read when connecting, refused when other users can read it).
        package enum TransportURLSource: Sendable {
            case text(String)
            case file(String)
        }
        package var transportURL: TransportURLSource
        /// The topic exchange Nova publishes to (its `control_exchange`).
        package var exchange: String
        package var topics: [String]
        package var priorities: [String]
        /// The service's own queue, bound to every `<topic>.<priority>`.
        package var queue: String
        /// What kind of queue `queue` (and `deadLetterQueue`) are declared as.
        package var queueType: QueueType
        /// Quorum queues: how many times a message is delivered before the broker moves it to
        /// the dead-letter queue (a message that can be neither applied nor kept does not block
        /// the queue for ever).
        package var deliveryLimit: Int
        /// Where the broker moves what `queue` dead-letters (default `<queue>.dead`).
        package var deadLetterQueue: String { deadLetterQueueName ?? queue + ".dead" }
        var deadLetterQueueName: String?
        /// A message larger than this (on the wire, or once decompressed) is not taken whole:
        /// its first bytes are kept in failed/ with the reason.
        package var maxMessageBytes: Int
        /// RabbitMQ's single active consumer on `queue`: of several serves on the queue, one
        /// receives, in order; the others are hot standbys that take over when it goes. Off:
        /// competing consumers, which share the work but not the order.
        package var singleActiveConsumer: Bool
        /// Declare Nova's exchange (with `exchangeDurable`, `exchangeAutoDelete`) instead of only
        /// looking it up. Off by default: a declare with properties other than Nova's makes
        /// every Nova publish fail with 406.
        package var declareExchange: Bool
        /// The exchange's properties when `declareExchange`: as oslo.messaging declares it,
        /// durable when nova.conf's `amqp_durable_queues` or `rabbit_quorum_queue` is true,
        /// auto-deleted when `amqp_auto_delete` is.
        package var exchangeDurable: Bool
        package var exchangeAutoDelete: Bool
        /// Messages taken before they are acknowledged: the most written at once.
        package var prefetch: Int
        package var tls: Bool
        package var caCertificateFile: String?
        /// AMQP heartbeat in seconds (0: none).
        package var heartbeat: Int

        package enum QueueType: String, Sendable, CaseIterable {
            /// Replicated on a majority of the cluster's nodes (Raft): survives a node's loss.
            case quorum
            /// On one node: lost (with what is in it) while that node is down.
            case classic
        }

        /// The priorities oslo.messaging's Notifier publishes with: each `<topic>.<priority>` is
        /// also the name of the queue oslo.messaging itself declares (with its own properties),
        /// which `queue` must never be.
        static let osloPriorities = ["audit", "critical", "debug", "error", "info", "sample", "warn", "warning"]

        /// The routing keys the queue is bound with: `versioned_notifications.info`, ...
        package var routingKeys: [String] { topics.flatMap { topic in priorities.map { "\(topic).\($0)" } } }

        /// The transport URL's text (read from its file when it is in one).
        package func transportURLText() throws -> String {
            switch transportURL {
            case .text(let text): return text
            case .file(let path): return try Configuration.readPasswordFile(path, what: "transport URL file")
            }
        }

        /// nil when neither transport_url nor transport_url_file is set (no bus configured).
        init?(_ settings: Settings, warn: (String) -> Void) throws {
            let source = settings.origin
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
            func names(_ key: Key, _ text: String) throws -> [String] {
                let list = Configuration.splitURIs(text)
                guard !list.isEmpty else { throw ConfigurationError("\(source(key)): empty") }
                for name in list
                where name.utf8.count > 255 || name.unicodeScalars.contains(where: { $0.value < 0x21 || $0 == "*" || $0 == "#" }) {
                    throw ConfigurationError(
                        "\(source(key)): \(Validate.quote(name)) is not a plain name of at most 255 bytes (no wildcards)")
                }
                return list
            }
            exchange = try names(.amqpExchange, settings.defaulted(.amqpExchange))[0]
            queue = try names(.amqpQueue, settings.defaulted(.amqpQueue))[0]
            topics = try names(.amqpTopics, settings.defaulted(.amqpTopics))
            priorities = try names(.amqpPriorities, settings.defaulted(.amqpPriorities))
            for (key, value) in [(Key.amqpExchange, exchange), (.amqpQueue, queue)]
            where settings[key].map(Configuration.splitURIs)?.count ?? 1 > 1 {
                throw ConfigurationError("\(source(key)): one name only (\(Validate.quote(value)) ...)")
            }
            deadLetterQueueName = try settings.text(.amqpDeadLetterQueue).map { try names(.amqpDeadLetterQueue, $0)[0] }
            let deadLetterQueue = deadLetterQueueName ?? queue + ".dead"
            for (key, name) in [(Key.amqpQueue, queue), (.amqpDeadLetterQueue, deadLetterQueue)] {
                if name.hasPrefix("amq.") {
                    throw ConfigurationError("\(source(key)): \(Validate.quote(name)) starts with amq., which RabbitMQ reserves")
                }
                // oslo.messaging's own queue for a topic: declaring it with other properties
                // would make Nova's publish fail (406), and reading it steals others' messages
                let topic = topics.first { topic in Self.osloPriorities.contains { "\(topic).\($0)" == name } }
                if let topic {
                    throw ConfigurationError(
                        "\(source(key)): \(Validate.quote(name)) is the queue oslo.messaging itself declares for "
                            + "topic \(topic); name a queue of this service's own (default nova-dirsvc)")
                }
            }
            guard deadLetterQueue != queue else {
                throw ConfigurationError("\(source(.amqpDeadLetterQueue)): the dead-letter queue must not be the queue itself")
            }
            queueType = try settings.chosen(.amqpQueueType, as: QueueType.self)
            deliveryLimit = try settings.wholeNumber(.amqpDeliveryLimit)
            if queueType == .classic, settings[.amqpDeliveryLimit] != nil {
                warn("\(source(.amqpDeliveryLimit)): classic queues have no delivery limit; it applies to queue_type = quorum only")
            }
            singleActiveConsumer = try settings.truth(.amqpSingleActiveConsumer)
            maxMessageBytes = try settings.wholeNumber(.amqpMaxMessageBytes)
            declareExchange = try settings.truth(.amqpDeclareExchange)
            exchangeDurable = try settings.truth(.amqpDurable)
            exchangeAutoDelete = try settings.truth(.amqpAutoDelete)
            if !declareExchange, let key = [Key.amqpDurable, .amqpAutoDelete].first(where: { settings[$0] != nil }) {
                warn("\(source(key)): used only with declare_exchange = true (serve looks Nova's exchange up and never declares it)")
            }
            prefetch = try settings.wholeNumber(.amqpPrefetch)
            heartbeat = try settings.wholeNumber(.amqpHeartbeat)
            tls = try settings.truth(.amqpSSL)
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
