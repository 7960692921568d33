import AMQP
import Dispatch
import Glibc
import NovaDirsvc
import ServiceLifecycle
import Synchronization

/// Nova's notifications off the bus into the directory: the bus side of `nova-dirsvc serve`, a
/// service of its one `ServiceGroup` (`ServeCommand` builds it).
///
/// Its loop runs on a POSIX thread of its own (rabbitmq-c blocks; never on a Swift concurrency
/// thread or an event loop), until graceful shutdown (SIGTERM, SIGINT: the group's):
/// 1. takes a reloaded configuration (SIGHUP: `ConfigurationReloader`) between two batches;
/// 2. (re)connects to the broker when needed, with backoff;
/// 3. takes the messages that are there (up to `prefetch`), hands them to the one writer
///    (`DirectoryWriter`) as one batch, and acknowledges each once it is applied, in the spool,
///    or kept in failed/ (`BusIntake+Messages.swift`).
///
/// Stopping: the batch in hand is finished and acknowledged, then the broker connection is
/// closed (messages it had sent but that were not taken are handed back). The writer, before
/// it in the group, stops after it.
package final class BusIntake: @unchecked Sendable {
    /// Decoding, and keeping what cannot be read in failed/ (no directory writes: the writer's).
    var path: EventPath
    var bus: BusConsumer
    var verbose: Bool
    let writer: DirectoryWriter
    let counters: ServeCounters
    let say: @Sendable (String) -> Void

    /// Short: with Nova's default (a transient exchange), what is published after a broker
    /// restart reaches the service's queue only once the service has bound it again.
    var brokerBackoff = Backoff(initial: .milliseconds(500), maximum: .seconds(5))
    var nextBrokerAttempt = ContinuousClock.now
    /// After a batch of which nothing could be applied or kept: the next receive waits.
    var receivePause = Backoff(initial: .seconds(1), maximum: .seconds(30))
    var nextReceive = ContinuousClock.now
    /// How long a receive waits for the first message: the loop's pace when idle.
    let idleWait: Duration = .milliseconds(250)

    private let stopRequested = Atomic<Bool>(false)
    private let connected = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    /// Set by `reconfigure`, taken by the loop between two batches.
    private let replacement = Mutex<(EventPath, BusConsumer, Bool)?>(nil)

    /// Checks the bus settings (throws a configuration error) without connecting.
    package init(
        configuration: Configuration, writer: DirectoryWriter, counters: ServeCounters, verbose: Bool,
        say: @escaping @Sendable (String) -> Void
    ) throws {
        guard let settings = configuration.bus else { throw ConfigurationError("no [amqp] transport_url") }
        self.bus = try BusConsumer(settings, connectTimeout: configuration.timeout)
        self.path = EventPath(configuration: configuration, warn: say)
        self.writer = writer
        self.counters = counters
        self.verbose = verbose
        self.say = say
        bus.notice = { say("broker: \($0)") }
    }

    package var summary: String { bus.summary }
    /// Whether the broker connection is up (read from any thread).
    package var isConnected: Bool { connected.load(ordering: .relaxed) }
    /// Told how long the writer took for each batch (/metrics).
    package var onBatchWritten: (@Sendable (Duration) -> Void)?

    /// The first connection, before the group runs: a refusal of the settings ends the service
    /// (exit status of the error); a broker that does not answer is retried by the loop.
    package func connect() throws {
        do {
            try bus.connect()
            brokerConnected()
        } catch let error as BusError where error.isSetup {
            throw error
        } catch {
            brokerLost(error)
        }
    }

    /// A new configuration (SIGHUP), checked: what `commit` puts in place.
    package struct Reload: @unchecked Sendable {
        let path: EventPath
        let bus: BusConsumer
        let verbose: Bool
        package var summary: String { bus.summary }
    }

    /// Builds what a new configuration needs, changing nothing; throws what does not hold.
    package func prepare(_ configuration: Configuration, verbose: Bool) throws -> Reload {
        guard let settings = configuration.bus else { throw ConfigurationError("[amqp]: removing the bus takes a restart") }
        let fresh = try BusConsumer(settings, connectTimeout: configuration.timeout)
        fresh.notice = { [say] in say("broker: \($0)") }
        return Reload(path: EventPath(configuration: configuration, warn: say), bus: fresh, verbose: verbose)
    }

    /// Puts it in place between two batches (the connection is dropped: unacknowledged
    /// messages come back, and are applied idempotently).
    package func commit(_ reload: Reload) {
        replacement.withLock { $0 = (reload.path, reload.bus, reload.verbose) }
        wake.signal()
    }

    // MARK: - The loop

    private func loop() {
        while !stopRequested.load(ordering: .acquiring) {
            if let (freshPath, freshBus, freshVerbose) = replacement.withLock({ value in
                defer { value = nil }
                return value
            }) {
                bus.drop()
                path = freshPath
                bus = freshBus
                verbose = freshVerbose
                nextBrokerAttempt = .now
                brokerBackoff.reset()
            }
            if !bus.isConnected {
                reconnectBroker()
                continue
            }
            let pause = nextReceive - .now
            if pause > .zero {
                sleep(min(pause, idleWait))
                continue
            }
            let deliveries: [AMQPConnection.Delivery]
            do {
                deliveries = try bus.receive(limit: bus.settings.prefetch, wait: idleWait)
            } catch {
                brokerLost(error)
                continue
            }
            if !deliveries.isEmpty { handle(deliveries) }
        }
        bus.drop()
        connected.store(false, ordering: .relaxed)
    }

    /// Waits, cut short by a stop or a reload.
    private func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = max(duration, .zero).components
        _ = wake.wait(timeout: .now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)))
    }

    // MARK: - The broker

    private func reconnectBroker() {
        let wait = nextBrokerAttempt - .now
        if wait > .zero {
            sleep(min(wait, .seconds(1)))
            return
        }
        do {
            try bus.connect()
            brokerBackoff.reset()
            brokerConnected()
        } catch {
            brokerLost(error)
        }
    }

    private func brokerConnected() {
        connected.store(true, ordering: .relaxed)
        say("broker: connected to \(bus.endpoint ?? "?") (\(bus.settings.queueType.rawValue) queue \(bus.settings.queue))")
    }

    func brokerLost(_ error: any Error) {
        bus.drop()
        connected.store(false, ordering: .relaxed)
        let wait = brokerBackoff.next()
        nextBrokerAttempt = .now + wait
        say("broker: \(error); retrying in \(Backoff.text(wait))")
    }
}

extension BusIntake: Service {
    /// Runs the loop on its thread until graceful shutdown (or cancellation).
    package func run() async throws {
        await PosixThread.runUntilShutdown({ self.loop() }, stop: { self.requestStop() })
    }

    private func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        wake.signal()
    }
}
