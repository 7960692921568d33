import ArgumentParser
import CommandSupport
import Dispatch
import Glibc
import HTTPService
import NovaAPI
import NovaDirsvc
import Serve
import ServiceLifecycle

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `nova-dirsvc serve` (the CLI runs this executable for it): the resident service, one
/// `ServiceGroup` (swift-service-lifecycle) of the one writer, the bus intake, the HTTP side,
/// the stats line and the SIGHUP reload; SIGTERM and SIGINT are the group's graceful shutdown
/// (the intakes stop first, the writer last).
@main
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nova-dirsvc serve",
        abstract: "Follow Nova's notifications on the message bus (RabbitMQ) into the directory, as a service.",
        discussion: """
            Runs in the foreground until SIGTERM or SIGINT (it finishes the messages and
            requests in hand, hands back the messages not taken, and exits 0); SIGHUP
            re-reads the configuration (directory, bus, HTTP credentials and certificate:
            all of it, or none when a part is wrong; a change of [http] listen takes a
            restart).
            The bus is configured in [amqp] (transport_url as in nova.conf), the HTTP side
            in [http] (listen: POST/DELETE/GET /v1/instances, POST /v1/vendordata,
            /healthz, /metrics); either or both; the directory as for every other command.
            `nova-dirsvc settings` lists every key with its default.
            Each message is acknowledged, and each request answered, once its event is in
            the directory, in the spool (directory down: 202 over HTTP), or kept in
            SPOOL/failed/ with its reason (it can never be applied).
            --check-config checks the settings strictly and reaches the directory and the
            broker, writing nothing, then exits: 0 all good; 64 a setting is wrong; 69 the
            directory or the broker could not be reached; 77 credentials refused.
            At start, serve exits with the same statuses when the broker or the directory
            refuses its settings; one that does not answer is retried (the directory's
            events are queued meanwhile).
            """)

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Check the settings and reach the directory and the broker, then exit.")
    var checkConfig = false

    @Option(help: ArgumentHelp("Seconds between two stats lines on standard error (0: only at the end; default 60).", valueName: "seconds"))
    var statsInterval: Double = 60

    @Flag(help: "A line on standard error for every message (the event log has one anyway).")
    var verbose = false

    /// For `nova-dirsvc reconcile --from-nova`: every page of Nova's /servers/detail ([nova]
    /// settings) on standard output, each as `<length>\n<JSON>`, then exit (77, 69, 64 as the CLI).
    @Flag(help: .hidden)
    var novaServers = false

    func run() throws {
        guard statsInterval.isFinite, statsInterval >= 0, statsInterval <= 86400 else {
            throw ValidationError("--stats-interval: \(statsInterval) is not a number of seconds from 0 to 86400")
        }
        if novaServers {
            let configuration = try connection.resolve()
            guard let nova = configuration.nova else {
                throw ConfigurationError("--from-nova: no [nova] auth_url in the configuration file (see docs/reconcile.md)")
            }
            var decoder = InstanceListDecoder.Pages()
            try NovaServerList.pages(nova) { page in
                let next = try decoder.decode(document: Data(page)).next  // checked, and its next link
                POSIX.write(1, "\(page.count)\n")
                page.withUnsafeBytes { bytes in
                    var offset = 0
                    while offset < bytes.count {
                        let written = Glibc.write(1, bytes.baseAddress! + offset, bytes.count - offset)
                        if written <= 0 {
                            if errno == EINTR { continue }
                            Glibc.exit(ExitStatus.unavailable.rawValue)
                        }
                        offset += written
                    }
                }
                return next
            }
            return
        }
        if checkConfig {
            let configuration = try connection.resolve(strict: true)
            let checked = try ConfigurationCheck.run(configuration)
            print("configuration: ok")
            print("directory: \(checked.directory.uri) as \(checked.directory.identity); base DN \(configuration.baseDN) exists")
            if let broker = checked.broker { print("broker: \(broker)") }
            if let http = try HTTPFrontend.check(configuration) { print("http: \(http)") }
            return
        }
        let configuration = try connection.resolve()
        guard configuration.bus != nil || configuration.http != nil else {
            throw ConfigurationError(
                "nothing to serve: set transport_url (or transport_url_file) in [amqp], as in nova.conf, "
                    + "and/or listen in [http]")
        }
        let say: @Sendable (String) -> Void = { warn("serve: \($0)") }
        EarlySignals.install()
        let counters = ServeCounters()
        let writer = DirectoryWriter(configuration: configuration, counters: counters, say: say)
        let intake = try configuration.bus.map { _ in
            try BusIntake(configuration: configuration, writer: writer, counters: counters, verbose: verbose, say: say)
        }
        let http = try configuration.http.map { _ in
            try HTTPFrontend(configuration: configuration, writer: writer, counters: counters, say: say)
        }
        if let http { intake?.onBatchWritten = { http.recordBusBatch(took: $0) } }

        say("starting: \(intake?.summary ?? "no bus"); directory \(configuration.uris.joined(separator: " ")) base \(configuration.baseDN)")
        // refusals of the settings or credentials end it here, with their exit status
        try writer.connect()
        try intake?.connect()

        let interval: Duration? = statsInterval == 0 ? nil : .milliseconds(Int64(statsInterval * 1000))
        let stats = StatsReporter(
            interval: interval, counters: counters, writer: writer, intake: intake,
            spool: EventPath(configuration: configuration, warn: say).spool, say: say)
        let scheduled = configuration.nova?.reconcileInterval.map { interval in
            ScheduledReconcile(
                configuration: configuration, interval: interval, writer: writer,
                read: { try NovaServerList.read($0, $1) }, say: say)
        }
        if let http { scheduled?.onOutcome = { http.recordReconcile(outcome: $0) } }
        let reloader = ConfigurationReloader(
            reload: { [connection, verbose] in
                // everything is built before anything changes: a part that does not hold refuses it all
                let fresh = try connection.resolve()
                guard (fresh.bus != nil) == (intake != nil) else {
                    throw ConfigurationError("[amqp]: adding or removing the bus takes a restart")
                }
                guard (fresh.http != nil) == (http != nil) else {
                    throw ConfigurationError("[http]: adding or removing it takes a restart")
                }
                let bus = try intake?.prepare(fresh, verbose: verbose)
                let web = try http?.prepare(fresh)
                if let bus { intake?.commit(bus) }
                writer.reconfigure(fresh)
                if let web { http?.commit(web) }
                scheduled?.reconfigure(fresh)
                return "\(bus?.summary ?? "no bus"); directory \(fresh.uris.joined(separator: " ")) base \(fresh.baseDN)"
                    + (web != nil ? "; http credentials and certificate" : "")
            }, say: say, caughtBeforeTrap: { EarlySignals.takeHangUp() })

        // in the order they start; graceful shutdown goes the other way: the reload and the
        // stats, the intakes (requests and the batch in hand finished), then the writer
        var services: [any Service] = [writer]
        if let intake { services.append(intake) }
        if let http { services.append(http) }
        if let scheduled { services.append(scheduled) }
        services += [stats, reloader, EarlyStopHandover()] as [any Service]
        let group = ServiceGroup(
            configuration: .init(
                services: services.map {
                    .init(
                        service: $0, successTerminationBehavior: $0 is EarlyStopHandover ? .gracefullyShutdownGroup : .cancelGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup)
                },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: GroupLogHandler.logger(say: say)))
        if EarlySignals.received {
            say("SIGTERM before the start: stopping")
            return
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await group.run() } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        say("stopped: \(counters.snapshot.line)")
        if let error = outcome.error { throw error }
    }

    /// What the group ended with (written by its task before the main thread reads it).
    final class Outcome: @unchecked Sendable { var error: (any Error)? }

    static func main() { CommandMain.run(Self.self) }
}
