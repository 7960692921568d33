import AMQP
import Glibc
import NovaDirsvc

/// `nova-dirsvc serve`: a resident process that follows Nova's notifications on the bus into
/// the directory, through the same event path as the CLI (decoding, validation, the entry
/// mapping, the ownership rule, the spool, the event log).
///
/// Two threads. The writer (`DirectoryWriter`) is the only one that writes to the directory,
/// for every intake (this loop and the HTTP side), with the one queue-while-down policy and the
/// directory's housekeeping (spool drains, writes in doubt). This loop (`run`):
/// 1. takes the signals (SIGTERM/SIGINT: stop; SIGHUP: re-read the configuration);
/// 2. prints the stats line when it is time;
/// 3. (re)connects to the broker when needed, with backoff;
/// 4. takes the messages that are there (up to `prefetch`), hands them to the writer as one
///    batch, and acknowledges each once it is applied, in the spool, or kept in failed/
///    (`Service+Messages.swift`).
///
/// Stopping: the batch in hand is finished and acknowledged, the HTTP side stops taking
/// requests and finishes those in hand, the broker connection is closed (messages it had sent
/// but that were not taken are handed back), then the writer finishes and closes the directory's.
public final class Service {
    public struct Configuration: Sendable {
        public var directory: NovaDirsvc.Configuration
        /// How often the stats line is printed (nil: never, except at the end).
        public var statsInterval: Duration?
        /// Print a line per message to standard error, not only to the event log.
        public var verbose: Bool

        public init(directory: NovaDirsvc.Configuration, statsInterval: Duration? = .seconds(60), verbose: Bool = false) {
            self.directory = directory
            self.statsInterval = statsInterval
            self.verbose = verbose
        }
    }

    var configuration: Configuration
    /// Decoding, and keeping what cannot be read in failed/ (no directory writes: the writer's).
    var path: EventPath
    /// The one writer, shared with the HTTP side.
    public let writer: DirectoryWriter
    /// The broker side; nil when only the HTTP side is configured.
    var bus: BusConsumer?
    /// The other intakes (the HTTP side), started after the directory and the broker and
    /// stopped first.
    let frontends: [any Frontend]
    public internal(set) var counters = ServiceCounters()
    let say: @Sendable (String) -> Void
    let signals = Signals()
    /// Re-reads the configuration (SIGHUP).
    let reload: (() throws -> NovaDirsvc.Configuration)?
    /// Told the counters after each batch (the HTTP side's /metrics).
    public var onCounters: (@Sendable (ServiceCounters) -> Void)?

    /// Short: with Nova's default (a transient exchange), what is published after a broker
    /// restart reaches the service's queue only once the service has bound it again.
    var brokerBackoff = Backoff(initial: .milliseconds(500), maximum: .seconds(5))
    var nextBrokerAttempt = ContinuousClock.now
    var brokerEverConnected = false
    /// After a batch of which nothing could be applied or kept: the next receive waits.
    var receivePause = Backoff(initial: .seconds(1), maximum: .seconds(30))
    var nextReceive = ContinuousClock.now
    var nextStats: ContinuousClock.Instant?
    /// How long a receive waits for the first message: the loop's pace when idle.
    let idleWait: Duration = .milliseconds(250)

    /// Blocks the signals the service answers: call first thing, before any thread starts.
    public static func prepareProcess() {
        Signals().block()
        signal(SIGPIPE, SIG_IGN)
    }

    /// Checks the settings (throws a configuration error) without connecting.
    public init(_ configuration: Configuration, writer: DirectoryWriter, frontends: [any Frontend] = [],
                say: @escaping @Sendable (String) -> Void, reload: (() throws -> NovaDirsvc.Configuration)? = nil) throws {
        guard configuration.directory.bus != nil || !frontends.isEmpty else {
            throw ConfigurationError("nothing to serve: set transport_url (or transport_url_file) in [amqp], as in nova.conf, "
                                     + "and/or listen in [http]")
        }
        self.configuration = configuration
        self.frontends = frontends
        self.bus = try configuration.directory.bus.map { try BusConsumer($0, connectTimeout: configuration.directory.timeout) }
        self.bus?.notice = { say("broker: \($0)") }
        self.path = EventPath(configuration: configuration.directory, warn: say)
        self.writer = writer
        self.say = say
        self.reload = reload
        nextStats = configuration.statsInterval.map { .now + $0 }
    }

    /// Runs until SIGTERM or SIGINT. Throws only at start-up, for what retrying cannot cure:
    /// the broker or the directory refusing the credentials or the settings.
    public func run() throws {
        say("starting: \(bus?.summary ?? "no bus"); directory \(configuration.directory.uris.joined(separator: " ")) base \(configuration.directory.baseDN)")
        try writer.connect()
        writer.start()
        do {
            try startBroker()
            for frontend in frontends { try frontend.start() }
        } catch {
            writer.stop()
            throw error
        }
        while true {
            if let signal = signals.wait(for: .zero) {
                if signal == SIGHUP { reloadConfiguration(); continue }
                say("\(Signals.name(signal)): stopping")
                break
            }
            housekeeping()
            guard let bus else {
                if let signal = signals.wait(for: idleWait) { resend(signal) }
                continue
            }
            if !bus.isConnected {
                reconnectBroker()
                continue
            }
            let pause = nextReceive - .now
            if pause > .zero {
                if let signal = signals.wait(for: min(pause, idleWait)) { resend(signal) }
                continue
            }
            let deliveries: [AMQPConnection.Delivery]
            do {
                deliveries = try bus.receive(limit: bus.settings.prefetch, wait: idleWait)
            } catch {
                brokerLost(error)
                continue
            }
            if !deliveries.isEmpty {
                handle(deliveries)
                onCounters?(counters)
            }
        }
        stop()
    }

    private func stop() {
        for frontend in frontends { frontend.stop() }
        bus?.drop()
        writer.stop()
        takeDrained()
        say("stopped: \(counters.line)")
    }

    func printStats() {
        let depth = (try? path.spool.pending().count).map(String.init) ?? "?"
        say("stats: \(counters.line) spool=\(depth) directory=\(writer.state.queueingReason != nil ? "queueing" : "up")"
            + (bus.map { " broker=\($0.isConnected ? "connected" : "retrying")" } ?? ""))
    }

    private func housekeeping() {
        takeDrained()
        if let due = nextStats, ContinuousClock.now >= due, let interval = configuration.statsInterval {
            printStats()
            nextStats = .now + interval
        }
    }

    /// Counts what the writer's spool drains did.
    private func takeDrained() {
        let drained = writer.takeDrained()
        guard drained != DirectoryWriter.Drained() else { return }
        counters.applied += drained.applied
        counters.failed += drained.setAside
        onCounters?(counters)
    }

    // MARK: - The broker

    /// The first connection: a refusal of the settings ends the service (exit status of the
    /// error); a broker that does not answer is retried in the loop.
    private func startBroker() throws {
        guard let bus else { return }
        do {
            try bus.connect()
            brokerEverConnected = true
            brokerConnected(bus)
        } catch let error as BusError where error.isSetup {
            throw error
        } catch {
            brokerLost(error)
        }
    }

    private func reconnectBroker() {
        guard let bus else { return }
        let wait = nextBrokerAttempt - .now
        if wait > .zero {
            // sleep until the next try, woken by a signal (it is looked at again at the loop's top)
            if let signal = signals.wait(for: min(wait, .seconds(1))) { resend(signal) }
            return
        }
        do {
            try bus.connect()
            brokerBackoff.reset()
            brokerConnected(bus)
        } catch {
            brokerLost(error)
        }
    }

    private func brokerConnected(_ bus: BusConsumer) {
        say("broker: connected to \(bus.endpoint ?? "?") (\(bus.settings.queueType.rawValue) queue \(bus.settings.queue))")
    }

    func brokerLost(_ error: any Error) {
        bus?.drop()
        let wait = brokerBackoff.next()
        nextBrokerAttempt = .now + wait
        say("broker: \(error); retrying in \(Self.seconds(wait))")
    }

    /// Puts a signal taken while sleeping back, for the loop's top to handle.
    func resend(_ signal: Int32) { kill(getpid(), signal) }

    // MARK: - Reload

    private func reloadConfiguration() {
        guard let reload else {
            say("SIGHUP: nothing to re-read")
            return
        }
        do {
            var fresh = configuration
            fresh.directory = try reload()
            let replacement = try Service(fresh, writer: writer, frontends: frontends, say: say, reload: reload)
            bus?.drop()  // unacknowledged messages come back, and are applied idempotently
            writer.reconfigure(fresh.directory)
            configuration = fresh
            bus = replacement.bus
            path = replacement.path
            nextBrokerAttempt = .now
            brokerBackoff.reset()
            say("SIGHUP: configuration re-read: \(bus?.summary ?? "no bus") ([http] changes take a restart)")
        } catch {
            say("SIGHUP: the configuration was not changed: \(error)")
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = attoseconds / 100_000_000_000_000_000
        return tenths == 0 ? "\(seconds) s" : "\(seconds).\(tenths) s"
    }
}

/// An intake the service starts and stops beside the bus (the HTTP side).
public protocol Frontend: AnyObject {
    /// Starts taking requests; throws when it cannot (the service then does not start).
    func start() throws
    /// Stops taking requests and finishes those in hand.
    func stop()
}
