import Glibc
import LDAP

/// The one way to reach the directory, for every command and the service: the configured
/// URIs in order, within one time budget for the whole attempt.
///
/// Each URI gets an equal share of what is left of the budget (so a supplier that hangs
/// costs its share and no more, and the next one is still tried); when every URI failed for
/// lack of an answer, they are tried once more after a short pause if the budget allows (a
/// supplier that is restarting). A refusal that is not about availability (bad credentials,
/// TLS verification) ends the attempt at once: another supplier would say the same.
package enum Directory {
    /// A bound connection to the first URI that answers, before `deadline`.
    package static func connect(_ configuration: Configuration, deadline: ContinuousClock.Instant) throws -> LDAPConnection {
        try connectReporting(configuration, deadline: deadline).connection
    }

    /// A connection, the server it is to, and the servers passed over on the way (with why).
    package struct Connected {
        package let connection: LDAPConnection
        package let uri: String
        package let passedOver: [String]
    }

    /// `connect`, saying which server answered and which were passed over. With several URIs,
    /// what one process learns (a server failed; the one a failover went to) is shared with the
    /// others through `ServerHealth`, beside the spool.
    package static func connectReporting(_ configuration: Configuration, deadline: ContinuousClock.Instant) throws -> Connected {
        try configuration.checkFiles()
        let credentials = try configuration.credentials()
        let health = configuration.uris.count > 1 ? configuration.serverHealth : nil
        let now = ServerHealth.now()
        let (ordered, skipped) = health.map { $0.order(configuration.uris, state: $0.load(), now: now) } ?? (configuration.uris, [])
        let uris: [[String]] = ordered.isEmpty ? [[]] : ordered.map { [$0] }
        var failures: [(uri: String, error: LDAPError)] = []
        for round in 0..<2 {
            if round == 1 {
                let pause = Duration.milliseconds(100)
                guard deadline - .now > pause * 2 else { break }
                sleep(for: pause)
            }
            for (index, uri) in uris.enumerated() {
                let left = deadline - .now
                guard left > .milliseconds(1) else { break }
                let share = left / (uris.count - index)
                var settings = configuration.connectionConfiguration
                settings.uris = uri
                settings.networkTimeout = share
                do {
                    let connection = try LDAPConnection.connect(settings, credentials: credentials, deadline: .now + share)
                    let name = uri.first ?? "(ldap.conf default)"
                    health?.record(failed: failures.map(\.uri), answered: name, configured: configuration.uris, now: now)
                    let passedOver = skipped + failures.map { "\($0.uri): \($0.error.code)" }
                    return Connected(connection: connection, uri: name, passedOver: passedOver)
                } catch let error as LDAPError where error.code.isUnavailable {
                    failures.append((uri.first ?? "(ldap.conf default)", error))
                }
            }
        }
        health?.record(failed: failures.map(\.uri), answered: nil, configured: configuration.uris, now: now)
        guard let last = failures.last else {
            throw LDAPError(code: .timeout, operation: "connect", diagnosticMessage: "the time budget ran out before a server was tried")
        }
        // name every server tried and why it was passed over
        let tried = skipped + failures.map { "\($0.uri): \($0.error.code)\($0.error.diagnosticMessage.map { " (\($0))" } ?? "")" }
        var error = last.error
        error.operation = "connect"
        error.diagnosticMessage = "no server could be used within the time budget; tried " + tried.uniqued().joined(separator: "; ")
        throw error
    }

    /// What `check`: found: the server that answered and who the bind made us.
    package struct Check: Sendable {
        package let uri: String
        package let identity: String
    }

    /// Connects, binds and reads the base DN, writing nothing (`nova-dirsvc check-config`).
    package static func check(_ configuration: Configuration, deadline: ContinuousClock.Instant) throws -> Check {
        if let problem = configuration.logFile.flatMap({ EventLog(path: $0).problem() }) {
            throw ConfigurationError("log_file: \(problem)")
        }
        let connection = try connect(configuration, deadline: deadline)
        defer { connection.close() }
        return try connection.withDeadline(deadline) {
            try Registrar(connection: connection, mapping: EntryMapping(baseDN: configuration.baseDN)).checkBaseExists()
            let identity = (try? connection.whoAmI()).flatMap { $0.isEmpty ? nil : $0 } ?? "anonymous"
            return Check(uri: connection.configuration.uris.first ?? "(ldap.conf default)", identity: identity)
        }
    }

    private static func sleep(for duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        nanosleep(&request, nil)
    }
}

/// A bound connection opened on first use and reopened after it failed: what the event path
/// writes through. The CLI makes one per command; a resident service keeps one.
package final class DirectorySession {
    package let configuration: Configuration
    private var connection: LDAPConnection?
    /// The server the connection is to, and those passed over when it was made.
    package private(set) var server: String?
    package private(set) var passedOver: [String] = []

    /// Instances whose write a server took without answering, in this session (by server).
    private var unanswered: [String: String] = [:]

    package init(configuration: Configuration) { self.configuration = configuration }

    /// The connection, connecting if there is none: within `deadline`, and within the
    /// configured timeout (a flush's longer budget is for applying events, not for waiting
    /// on servers that do not answer).
    package func connection(before deadline: ContinuousClock.Instant) throws -> LDAPConnection {
        if let connection { return connection }
        let fresh = try Directory.connectReporting(configuration, deadline: min(deadline, .now + configuration.timeout))
        connection = fresh.connection
        server = fresh.uri
        passedOver = fresh.passedOver
        return fresh.connection
    }

    /// Runs `body` with the connection under `deadline`. With several servers, each gets a
    /// share of what is left: one that stops answering (after the bind, mid-operation) costs its
    /// share, is marked down, and `body` runs again on the next (it is idempotent: register and
    /// unregister are). A connection that failed for lack of an answer is dropped.
    ///
    /// `touching`: the instances `body` writes. When a server stops answering mid-body, it may
    /// have applied those writes (and will replicate them once it is back): with several servers
    /// they are remembered as in doubt (`InDoubtLedger`), for `InDoubtResolver` and for the event
    /// log (`attribution`).
    package func run<T>(
        before deadline: ContinuousClock.Instant, touching: [String] = [],
        _ body: (LDAPConnection) throws -> T
    ) throws -> T {
        var failedServers = 0
        while true {
            let connection = try connection(before: deadline)
            let othersLeft = max(0, configuration.uris.count - 1 - failedServers)
            let share = (deadline - .now) / (othersLeft + 1)
            do {
                return try connection.withDeadline(min(deadline, .now + share)) { try body(connection) }
            } catch let error as LDAPError where error.code.isUnavailable {
                // the server stopped answering: note it, so that the next attempt (this one's or
                // another process's) tries the others first
                if let server, configuration.uris.count > 1 {
                    configuration.serverHealth.record(
                        failed: [server], answered: nil, configured: configuration.uris,
                        now: ServerHealth.now())
                    inDoubt(touching, on: server)
                }
                close()
                failedServers += 1
                guard othersLeft > 0, deadline - .now > .milliseconds(50) else { throw error }
            }
        }
    }

    private func inDoubt(_ uuids: [String], on server: String) {
        guard !uuids.isEmpty else { return }
        for uuid in uuids { unanswered[uuid.lowercased()] = server }
        let now = ServerHealth.now()
        // a ledger that cannot be written costs the automatic settling only: reconcile still
        // finds and removes replication conflict entries
        try? configuration.inDoubtLedger.update { items in
            for uuid in uuids { items[uuid.lowercased()] = items[uuid.lowercased()] ?? .init(server: server, since: now) }
        }
    }

    /// The attributes to read back from an add of `uuid` here (`LDAPConnection.add(_:_:readingBack:)`):
    /// `nsUniqueId` when the add applies again a write another server took without answering
    /// (pass the entry to `readded`), else nil (an add costs nothing more).
    package func readBack(forAddOf uuid: String) -> [String]? {
        guard let other = unanswered[uuid.lowercased()], other != server else { return nil }
        return ["nsUniqueId"]
    }

    /// Remembers, in the ledger, the entries that adds asked to `readBack` made here: settling a
    /// replication conflict then knows whether the entry left at the DN is this server's.
    package func readded(_ entries: [(instanceUUID: String, entry: Entry)]) {
        guard let server else { return }
        let ids = entries.compactMap { item in item.entry["nsUniqueId"].first.map { (item.instanceUUID.lowercased(), $0) } }
        guard !ids.isEmpty else { return }
        // a ledger that cannot be written costs the attribution only (see `inDoubt`)
        try? configuration.inDoubtLedger.update { items in
            for (uuid, id) in ids where items[uuid] != nil {
                items[uuid]?.readdedOn = server
                items[uuid]?.readdedID = id
            }
        }
    }

    /// Who applied an event of `uuid` that had `outcome` here, for the event log: this session's
    /// server, unless a write of the instance went unanswered on another one and here the work
    /// was found done (`unchanged`, `absent`): that one applied it and replication brought it.
    /// `answeredBy`: the server that answered this write, when it is known to be another than
    /// the one the session ends on (a pipelined add answered before a failover mid-body).
    package func attribution(
        for uuid: String?, outcome: String, answeredBy: String? = nil
    ) -> (server: String?, note: String?) {
        if let answeredBy {
            if let uuid = uuid?.lowercased(), unanswered[uuid] == answeredBy { unanswered[uuid] = nil }
            return (answeredBy, nil)
        }
        guard let uuid = uuid?.lowercased(), let other = unanswered[uuid] else { return (server, nil) }
        guard ["added", "updated", "unchanged", "deleted", "absent"].contains(outcome) else { return (server, nil) }
        unanswered[uuid] = nil
        if outcome == "unchanged" || outcome == "absent", other != server {
            return (other, "applied by \(other), which did not answer; found done on \(server ?? "the next server") (replicated)")
        }
        return (server, "\(other) took this write without answering; applied again here: in doubt until the servers agree")
    }

    /// The configured servers other than the one this session is connected to, when a failover
    /// happened lately: an entry found absent here may still live there.
    var othersToCheck: [String] {
        guard configuration.uris.count > 1, let server else { return [] }
        let health = configuration.serverHealth
        guard health.failedOverRecently(health.load(), now: ServerHealth.now()) else { return [] }
        return configuration.uris.filter { $0 != server }
    }

    package func close() {
        connection?.close()
        connection = nil
    }

    deinit { close() }
}

/// A session is used by one thread at a time: the CLI's one, the service's loop, or the one
/// request the HTTP side's pool handed it to (`SessionPool`).
extension DirectorySession: @unchecked Sendable {}
