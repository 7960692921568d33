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
import Service
import ServiceLifecycle
import Synchronization

/// The HTTP side of `nova-dirsvc serve` (the seed's "POST the DICT to a directory service",
/// Nova's DynamicJSON vendordata): Hummingbird 2 on SwiftNIO, HTTP/1.1 with keep-alive, TLS
/// when a certificate is configured.
///
/// Threads: requests arrive on NIO's event loops; writes go to the service's one writer
/// (`DirectoryWriter`, shared with the bus side: one batch, one spool lock, one policy while
/// the directory is down); reads (show, healthz: blocking libldap calls) run on a pool of their
/// own (`workers`), each with a `DirectorySession` taken from `SessionPool`. At most `maxInFlight` requests are worked on
/// at once; one more gets 503 with Retry-After at once (never an unbounded queue).
///
/// The service's loop (one thread, synchronous) starts it with `start()` and stops it with
/// `stop()` (graceful: requests in hand are finished).
public final class HTTPFrontend: @unchecked Sendable {
    let settings: Configuration.HTTP
    let path: EventPath
    let sessions: SessionPool
    let writer: DirectoryWriter
    let metrics = ServiceMetrics()
    let token: String?
    let users: BasicUsers?
    let say: @Sendable (String) -> Void
    private let workers: NIOThreadPool
    private let inFlight = Atomic<Int>(0)
    private var group: ServiceGroup?
    private var running: Task<Void, any Error>?
    /// The port it listens on once started (the configured one, or the one the system chose for 0).
    public private(set) var boundPort: Int?

    public init(configuration: Configuration, path: EventPath, writer: DirectoryWriter,
                say: @escaping @Sendable (String) -> Void) throws {
        guard let settings = configuration.http else { throw ConfigurationError("no [http] listen") }
        self.settings = settings
        self.path = path
        self.sessions = SessionPool(configuration: configuration)
        self.writer = writer
        self.token = try settings.token()
        self.users = try settings.basicAuthFile.map { try BasicUsers(file: $0) }
        self.say = say
        // reads (show, healthz) block in libldap: a few threads of their own; writes go to the writer
        self.workers = NIOThreadPool(numberOfThreads: min(settings.maxInFlight, 4))
    }

    /// `serve --check-config`: the token and users files readable (and not by others), the TLS
    /// certificate and key usable. Says what the HTTP side will be.
    public static func check(_ configuration: Configuration) throws -> String? {
        guard let settings = configuration.http else { return nil }
        let token = try settings.token()
        let users = try settings.basicAuthFile.map { try BasicUsers(file: $0) }
        _ = try tlsServer(settings)
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

    /// HTTP/1.1 with keep-alive (60 s idle), in TLS when a certificate is configured.
    static func tlsServer(_ settings: Configuration.HTTP) throws -> HTTPServerBuilder {
        guard let certificate = settings.tlsCertificateFile, let key = settings.tlsKeyFile else {
            return .http1(configuration: .init(idleTimeout: .seconds(60)))
        }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain,
                                                               privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            return try .tls(.http1(configuration: .init(idleTimeout: .seconds(60))), tlsConfiguration: tls)
        } catch {
            throw ConfigurationError("[http] tls_cert / tls_key: cannot use \(certificate) and \(key): \(error)")
        }
    }

    /// Starts listening; returns once the port is bound (or throws why it could not be).
    public func start() throws {
        workers.start()
        let router = Router()
        addRoutes(to: router)
        let server = try Self.tlsServer(settings)
        let bound = DispatchSemaphore(value: 0)
        let port = Mutex<Int?>(nil)
        let app = Application(
            router: router, server: server,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "nova-dirsvc"),
            onServerRunning: { channel in
                port.withLock { $0 = channel.localAddress?.port }
                bound.signal()
            },
            logger: Self.quietLogger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: Self.quietLogger))
        self.group = group
        let failure = Mutex<(any Error)?>(nil)
        running = Task {
            do { try await group.run() } catch {
                failure.withLock { $0 = error }
                bound.signal()
                throw error
            }
        }
        if bound.wait(timeout: .now() + 10) == .timedOut {
            throw ConfigurationError("[http] listen \(settings.host):\(settings.port): the server did not start within 10 s")
        }
        if let error = failure.withLock({ $0 }) {
            throw ConfigurationError("[http] listen \(settings.host):\(settings.port): \(Self.describe(error))")
        }
        boundPort = port.withLock { $0 }
        say("http: listening on \(settings.tls ? "https" : "http")://\(settings.host):\(boundPort ?? settings.port)"
            + (token == nil && users == nil ? " (no token_file or basic_auth_file: every route is open)" : ""))
    }

    /// Stops taking connections, finishes the requests in hand, then returns.
    public func stop() {
        guard let group, let running else { return }
        let done = DispatchSemaphore(value: 0)
        Task {
            await group.triggerGracefulShutdown()
            _ = await running.result
            done.signal()
        }
        _ = done.wait(timeout: .now() + 30)
        try? workers.syncShutdownGracefully()
        sessions.closeAll()
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
        return try await workers.runIfActive { [sessions] in
            try sessions.with { try body($0) }
        }
    }

    static let quietLogger: Logger = {
        var logger = Logger(label: "nova-dirsvc.http")
        logger.logLevel = .warning
        return logger
    }()
}

/// Directory sessions for the requests worked on at once: one each, kept bound between
/// requests (a connection that failed is dropped by its session and made again on next use).
final class SessionPool: @unchecked Sendable {
    private let configuration: Configuration
    private let idle = Mutex<[DirectorySession]>([])

    init(configuration: Configuration) { self.configuration = configuration }

    func with<T>(_ body: (DirectorySession) throws -> T) rethrows -> T {
        let session = idle.withLock { $0.popLast() } ?? DirectorySession(configuration: configuration)
        defer { idle.withLock { $0.append(session) } }
        return try body(session)
    }

    func closeAll() {
        idle.withLock { sessions in
            sessions.forEach { $0.close() }
            sessions.removeAll()
        }
    }
}

extension HTTPFrontend: Frontend {
    /// The bus side's counters, for /metrics.
    public func busCounters(_ counters: ServiceCounters) { metrics.bus(counters) }
}
