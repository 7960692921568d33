import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NovaDirsvc
import Serve
import ServiceLifecycle
import Synchronization

/// The HTTP side of `nova-dirsvc serve` (the seed's "POST the DICT to a directory service",
/// Nova's DynamicJSON vendordata): Hummingbird 2 on SwiftNIO, HTTP/1.1 with keep-alive, TLS
/// (1.2 and later, forward secrecy only) when a certificate is configured. A service of serve's
/// group: it runs the Hummingbird application, whose graceful shutdown finishes the requests
/// in hand.
///
/// Threads: requests arrive on NIO's event loops; writes go to the service's one writer
/// (`DirectoryWriter`, shared with the bus side: one batch, one spool lock, one policy while
/// the directory is down); reads (show, healthz: blocking libldap calls) and Basic password
/// hashing run on a pool of their own (`workers`), each read with a `DirectorySession` taken
/// from `SessionPool`. At most `maxInFlight` requests are worked on at once; one more gets 503
/// with Retry-After at once (never an unbounded queue).
///
/// SIGHUP (`prepare`, then `commit`): the event path and the base DN, the read sessions, the
/// token, the Basic users and the TLS certificate are replaced together; a change of `listen`
/// or `max_in_flight` takes a restart (refused).
package final class HTTPFrontend: @unchecked Sendable {
    let settings: Configuration.HTTP
    let writer: DirectoryWriter
    let counters: ServeCounters
    let metrics = ServiceMetrics()
    let say: @Sendable (String) -> Void
    private let workers: NIOThreadPool
    private let inFlight = Atomic<Int>(0)
    /// What SIGHUP replaces, all at once.
    struct Current: Sendable {
        let path: EventPath
        let sessions: SessionPool
        let token: String?
        let users: BasicUsers?
    }
    private let current: Mutex<Current>
    private let tls: TLSContextBox?
    /// The port it listens on once started (the configured one, or the one the system chose for 0).
    package var boundPort: Int? { port.withLock { $0 } }
    private let port = Mutex<Int?>(nil)

    package init(
        configuration: Configuration, writer: DirectoryWriter, counters: ServeCounters,
        say: @escaping @Sendable (String) -> Void
    ) throws {
        guard let settings = configuration.http else { throw ConfigurationError("no [http] listen") }
        self.settings = settings
        self.writer = writer
        self.counters = counters
        self.current = Mutex(try Self.current(configuration, say: say))
        self.tls = try Self.tlsContext(settings).map { TLSContextBox($0) }
        self.say = say
        // reads (show, healthz) block in libldap: a few threads of their own; writes go to the writer
        self.workers = NIOThreadPool(numberOfThreads: min(settings.maxInFlight, 4))
    }

    private static func current(_ configuration: Configuration, say: @escaping @Sendable (String) -> Void) throws -> Current {
        guard let settings = configuration.http else { throw ConfigurationError("no [http] listen") }
        return Current(
            path: EventPath(configuration: configuration, warn: say), sessions: SessionPool(configuration: configuration),
            token: try settings.token(), users: try settings.basicAuthFile.map { try BasicUsers(file: $0) })
    }

    var path: EventPath { current.withLock { $0.path } }
    var credentials: (token: String?, users: BasicUsers?) { current.withLock { ($0.token, $0.users) } }

    /// A reloaded configuration, checked: what `commit` puts in place.
    package struct Reload: @unchecked Sendable {
        let current: Current
        let tls: NIOSSLContext?
    }

    /// Builds what a new configuration needs, changing nothing; throws what does not hold.
    package func prepare(_ configuration: Configuration) throws -> Reload {
        guard let fresh = configuration.http else { throw ConfigurationError("[http]: removing the HTTP side takes a restart") }
        guard fresh.host == settings.host, fresh.port == settings.port else {
            throw ConfigurationError(
                "[http] listen: a change (\(settings.host):\(settings.port) to \(fresh.host):\(fresh.port)) takes a restart")
        }
        guard fresh.maxInFlight == settings.maxInFlight else { throw ConfigurationError("[http] max_in_flight: a change takes a restart") }
        guard fresh.tls == settings.tls else { throw ConfigurationError("[http] tls_cert: turning TLS on or off takes a restart") }
        return Reload(current: try Self.current(configuration, say: say), tls: try Self.tlsContext(fresh))
    }

    /// Puts a prepared configuration in place: the next request uses it (those in hand finish
    /// with the old one); the old read connections are closed once given back.
    package func commit(_ reload: Reload) {
        let old = current.withLock { value in
            defer { value = reload.current }
            return value
        }
        if let context = reload.tls { tls?.replace(context) }
        old.sessions.closeAll()
    }

    /// `serve --check-config`: the token and users files readable (and not by others), the TLS
    /// certificate and key usable. Says what the HTTP side will be.
    package static func check(_ configuration: Configuration) throws -> String? {
        guard let settings = configuration.http else { return nil }
        let token = try settings.token()
        let users = try settings.basicAuthFile.map { try BasicUsers(file: $0) }
        _ = try tlsContext(settings)
        if let problem = bindProblem(settings) {
            throw ConfigurationError("[http] listen \(settings.host):\(settings.port): \(problem)")
        }
        return "\(settings.tls ? "https" : "http")://\(settings.host):\(settings.port)"
            + (token == nil && users == nil ? " (no token_file or basic_auth_file: every route is open)" : "")
    }

    /// Why the listen address cannot be bound now (taken, not an address of this host), or nil:
    /// bound and released at once, as check-config's look.
    static func bindProblem(_ settings: Configuration.HTTP) -> String? {
        do {
            let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .bind(host: settings.host, port: settings.port).wait()
            try? channel.close().wait()
            return nil
        } catch {
            return describe(error)
        }
    }

    /// An error of the listener in words: a system error by its text (not NIO's function names).
    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }

    /// The TLS context of the listener (nil: plain HTTP): TLS 1.2 or later, and for TLS 1.2
    /// only ECDHE key exchange with AEAD ciphers (forward secrecy; no static RSA, no CBC).
    static func tlsContext(_ settings: Configuration.HTTP) throws -> NIOSSLContext? {
        guard let certificate = settings.tlsCertificateFile, let key = settings.tlsKeyFile else { return nil }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain,
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            tls.minimumTLSVersion = .tlsv12
            tls.cipherSuites = Self.cipherSuites
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw ConfigurationError("[http] tls_cert / tls_key: cannot use \(certificate) and \(key): \(error)")
        }
    }

    /// TLS 1.2's suites (OpenSSL's names): ECDHE only, AES-GCM or ChaCha20-Poly1305. (TLS 1.3's
    /// are all forward-secret and AEAD.)
    static let cipherSuites =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

    /// HTTP/1.1 with keep-alive (60 s idle), in TLS (the context of the moment) when configured.
    var server: HTTPServerBuilder {
        let http1 = HTTP1Channel.Configuration(idleTimeout: .seconds(60))
        guard let tls else { return .http1(configuration: http1) }
        return HTTPServerBuilder { responder in ReloadableTLSChannel(HTTP1Channel(responder: responder, configuration: http1), tls: tls) }
    }

    /// Runs `body` counted as in flight; nil (the caller answers 503 at once) when
    /// `maxInFlight` requests are already being worked on.
    func admitted<T: Sendable>(_ body: () async throws -> T) async rethrows -> T? {
        let now = inFlight.add(1, ordering: .relaxed).newValue
        defer { inFlight.subtract(1, ordering: .relaxed) }
        guard now <= settings.maxInFlight else { return nil }
        return try await body()
    }

    /// Runs a blocking read of the directory on the workers, with a session of the pool.
    /// `operation`: its name in the latency histogram (nil: not a directory operation).
    func read<T: Sendable>(_ operation: String?, _ body: @escaping @Sendable (DirectorySession) throws -> T) async throws -> T {
        let start = ContinuousClock.now
        defer { if let operation { metrics.operation(operation, took: .now - start) } }
        let sessions = current.withLock { $0.sessions }
        return try await workers.runIfActive {
            try sessions.with { try body($0) }
        }
    }

    static let quietLogger: Logger = {
        var logger = Logger(label: "nova-dirsvc.http")
        logger.logLevel = .warning
        return logger
    }()
}

/// Directory sessions for the reads worked on at once: one each, kept bound between
/// requests (a connection that failed is dropped by its session and made again on next use).
final class SessionPool: @unchecked Sendable {
    private let configuration: Configuration
    /// The sessions not in use; nil once closed (a session given back then is closed).
    private let idle = Mutex<[DirectorySession]?>([])

    init(configuration: Configuration) { self.configuration = configuration }

    func with<T>(_ body: (DirectorySession) throws -> T) rethrows -> T {
        let session = idle.withLock { $0?.popLast() } ?? DirectorySession(configuration: configuration)
        defer {
            let kept = idle.withLock { sessions in
                sessions?.append(session)
                return sessions != nil
            }
            if !kept { session.close() }
        }
        return try body(session)
    }

    func closeAll() {
        let sessions = idle.withLock { value in
            defer { value = nil }
            return value ?? []
        }
        sessions.forEach { $0.close() }
    }
}

extension HTTPFrontend: Service {
    /// Listens until graceful shutdown, then finishes the requests in hand. A listen address
    /// that cannot be bound ends the group (64, in words).
    package func run() async throws {
        workers.start()
        let router = Router()
        addRoutes(to: router)
        let connections = Self.connectionLimit(openFiles: POSIX.raiseOpenFileLimit())
        let app = Application(
            router: router, server: server,
            configuration: .init(
                address: .hostname(settings.host, port: settings.port), serverName: "nova-dirsvc",
                availableConnectionsDelegate: MaximumAvailableConnections(connections)),
            onServerRunning: { [self] channel in
                port.withLock { $0 = channel.localAddress?.port }
                say(
                    "http: listening on \(settings.tls ? "https" : "http")://\(settings.host):\(boundPort ?? settings.port)"
                        + " (at most \(connections) connections)"
                        + (credentials.token == nil && credentials.users == nil
                            ? " (no token_file or basic_auth_file: every route is open)" : ""))
            },
            logger: Self.quietLogger)
        let failure: (any Error)?
        do {
            try await app.run()
            failure = nil
        } catch {
            failure = error
        }
        try? await workers.shutdownGracefully()
        current.withLock { $0 }.sessions.closeAll()
        if let failure { throw ConfigurationError("[http] listen \(settings.host):\(settings.port): \(Self.describe(failure))") }
    }

    /// Connections held at once: at most 4,096, and never so many that the process runs out of
    /// file descriptors (the Swift runtime's thread pool, libdispatch, traps when it cannot get
    /// one: serve died with SIGILL at about 1,100 idle connections under the default limit of
    /// 1,024). 256 are left for the rest (directory sessions, the broker, spool and log files,
    /// the event loops). One more waits in the kernel's accept queue until one closes (idle
    /// ones close after 60 s).
    static func connectionLimit(openFiles: Int) -> Int { max(16, min(4096, openFiles - 256)) }

    /// The writer's time for one batch off the bus, for /metrics.
    package func recordBusBatch(took duration: Duration) { metrics.operation("bus-batch", took: duration) }

    /// A scheduled reconcile's outcome, for /metrics.
    package func recordReconcile(outcome: String) { metrics.reconcile(outcome: outcome) }
}

/// The listener's TLS context, replaced on SIGHUP (a renewed certificate): each new connection
/// gets the one of the moment.
final class TLSContextBox: @unchecked Sendable {
    private let context: Mutex<NIOSSLContext>
    init(_ context: NIOSSLContext) { self.context = Mutex(context) }
    var current: NIOSSLContext { context.withLock { $0 } }
    func replace(_ fresh: NIOSSLContext) { context.withLock { $0 = fresh } }
}

/// Hummingbird's TLS child channel (HummingbirdTLS's `TLSChannel`), with the context taken
/// per connection from a box.
struct ReloadableTLSChannel<BaseChannel: ServerChildChannel>: ServerChildChannel {
    typealias Value = BaseChannel.Value
    let baseChannel: BaseChannel
    let tls: TLSContextBox

    init(_ baseChannel: BaseChannel, tls: TLSContextBox) {
        self.baseChannel = baseChannel
        self.tls = tls
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.current))
        }.flatMap {
            baseChannel.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: BaseChannel.Value, logger: Logger) async {
        await baseChannel.handle(value: value, logger: logger)
    }
}

extension ReloadableTLSChannel: HTTPChannelHandler where BaseChannel: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { baseChannel.responder }
}
