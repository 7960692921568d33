import ArgumentParser
import CommandSupport
import HTTPService
import NovaDirsvc
import Service

/// `nova-dirsvc serve` (the CLI runs this executable for it): the resident service.
@main
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nova-dirsvc serve",
        abstract: "Follow Nova's notifications on the message bus (RabbitMQ) into the directory, as a service.",
        discussion: """
            Runs in the foreground until SIGTERM or SIGINT (it finishes the messages in hand,
            hands back the ones not taken, and exits 0); SIGHUP re-reads the configuration.
            The bus is configured in [amqp] (transport_url as in nova.conf, exchange, topics,
            queue, durable, prefetch), the HTTP side in [http] (listen, token_file,
            basic_auth_file, tls_cert, tls_key, max_in_flight: POST/DELETE/GET /v1/instances,
            POST /v1/vendordata, /healthz, /metrics); either or both. The directory as for every
            other command. Each message is acknowledged, and each request answered, once its
            event is in the directory, in the spool (directory down: 202 over HTTP), or kept in
            SPOOL/failed/ with its reason (it can never be applied).
            --check-config checks the settings strictly and reaches the directory and the
            broker, writing nothing, then exits: 0 all good; 64 a setting is wrong; 69 the
            directory or the broker could not be reached; 77 credentials refused.
            At start, serve exits with the same statuses when the broker or the directory
            refuses its settings; one that does not answer is retried (the directory's events
            are queued meanwhile).
            """)

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Check the settings and reach the directory and the broker, then exit.")
    var checkConfig = false

    @Option(help: ArgumentHelp("Seconds between two stats lines on standard error (0: only at the end; default 60).", valueName: "seconds"))
    var statsInterval: Double = 60

    @Flag(help: "A line on standard error for every message (the event log has one anyway).")
    var verbose = false

    func run() throws {
        guard statsInterval.isFinite, statsInterval >= 0, statsInterval <= 86400 else {
            throw ValidationError("--stats-interval: \(statsInterval) is not a number of seconds from 0 to 86400")
        }
        if checkConfig {
            let configuration = try connection.resolve(strict: true)
            let checked = try Service.check(configuration)
            print("configuration: ok")
            print("directory: \(checked.directory.uri) as \(checked.directory.identity); base DN \(configuration.baseDN) exists")
            if let broker = checked.broker { print("broker: \(broker)") }
            if let http = try HTTPFrontend.check(configuration) { print("http: \(http)") }
            return
        }
        Service.prepareProcess()
        let configuration = try connection.resolve()
        let interval: Duration? = statsInterval == 0 ? nil : .milliseconds(Int64(statsInterval * 1000))
        let say: @Sendable (String) -> Void = { warn("serve: \($0)") }
        // the one writer of both intakes
        let writer = DirectoryWriter(configuration: configuration, say: say)
        let http = try configuration.http.map { _ in
            try HTTPFrontend(configuration: configuration, path: EventPath(configuration: configuration, warn: say), writer: writer, say: say)
        }
        let service = try Service(Service.Configuration(directory: configuration, statsInterval: interval, verbose: verbose),
                                  writer: writer, frontends: http.map { [$0] } ?? [], say: say,
                                  reload: { try connection.resolve() })
        if let http {
            service.onCounters = { counters in http.busCounters(counters) }
        }
        try service.run()
    }

    static func main() { CommandMain.run(Self.self) }
}
