#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import LDAP

/// The register/unregister path the CLI runs, and `flush`: decode, apply within the time
/// budget (or queue in the spool), log.
///
/// Order per instance: every write to the directory happens while holding the spool's lock,
/// and an event is applied directly only when the spool is empty; otherwise it is queued
/// behind the others and the spool is drained in order. So an unregister can never overtake
/// its register, whether they run one after the other, in parallel, or beside a `flush`.
///
/// Every event is logged (JSON lines, see `EventLog`) with its outcome: rejected and failed
/// events too, queued ones when queued and again when the spool applies them.
public struct EventProcessor {
    public let configuration: Configuration
    public let log: EventLog?
    public let spool: Spool
    /// Receives warnings that must not stop the event (an unwritable log, a damaged spool file).
    public var warn: (String) -> Void

    public init(configuration: Configuration, warn: @escaping (String) -> Void) {
        self.configuration = configuration
        self.log = configuration.logFile.map(EventLog.init(path:))
        self.spool = Spool(directory: configuration.spoolDirectory)
        self.warn = warn
    }

    /// Where an event comes from.
    public enum Input {
        /// JSON bytes in any of the forms `EventDecoder` knows.
        case json(Data)
        /// A record from command-line flags (validated here).
        case record(InstanceRecord)
        /// An instance UUID from a command-line flag (validated here).
        case instanceUUID(String)
    }

    /// What became of an event.
    public enum Result: Sendable {
        /// Applied by this process.
        case applied(Registrar.Outcome)
        /// Queued, then applied by a concurrent process draining the spool.
        case appliedFromSpool
        /// Queued in the spool: the directory was unavailable (or busy past the budget).
        case queued(reason: String)
    }

    /// Decodes and handles one event within the configured time budget.
    /// Throws (after logging) for bad input (65), refusal (77, 1), or a spool that cannot be
    /// written while the directory is unavailable (69).
    public func process(_ input: Input, as action: EventDecoder.Action) throws -> (InstanceEvent, Result) {
        let deadline = ContinuousClock.now + .milliseconds(Int64(configuration.timeout * 1000))
        let event: InstanceEvent
        do {
            event = try decode(input, as: action)
        } catch {
            record(event: nil, action: action.rawValue, outcome: "rejected", error: error)
            throw error
        }
        var session = Session(processor: self, deadline: deadline)
        defer { session.close() }
        // Try for the right to write; while someone else holds it, wait a moment before queueing.
        let lock: FileLock?
        do {
            lock = try spool.lock(wait: .milliseconds(50))
        } catch {
            // No usable spool (folder missing and not creatable, no permission): still try the
            // directory, without the spool's ordering; only if that fails too is the event lost.
            warn("warning: \(error); trying the directory without the spool")
            do {
                let outcome = try session.apply(event)
                record(event: event, action: event.action, outcome: outcome.rawValue, error: nil)
                return (event, .applied(outcome))
            } catch let directoryError as LDAPError where directoryError.code.isUnavailable {
                record(event: event, action: event.action, outcome: "failed", error: directoryError, detail: "\(error)")
                throw UnavailableError(directory: directoryError, spool: error)
            } catch let other {
                record(event: event, action: event.action, outcome: "failed", error: other)
                throw other
            }
        }
        if let lock {
            defer { lock.release() }
            if try spool.pending().isEmpty {
                do {
                    let outcome = try session.apply(event)
                    record(event: event, action: event.action, outcome: outcome.rawValue, error: nil)
                    return (event, .applied(outcome))
                } catch let error as LDAPError where error.code.isUnavailable {
                    spool.markUnavailable()
                    return (event, try queue(event, because: error))
                } catch {
                    record(event: event, action: event.action, outcome: "failed", error: error)
                    throw error
                }
            }
            let item = try enqueue(event, because: "earlier events are waiting in the spool")
            session.drain(until: deadline)
            return (event, try outcome(of: item, session: session))
        }
        // Someone else is writing (or draining): queue behind them and wait for the lock or
        // for our event to be applied, within the budget.
        let queuedAt = Date()
        let item = try enqueue(event, because: "another nova-dirsvc is writing")
        while ContinuousClock.now < deadline {
            if !spool.exists(item) { return (event, try outcome(of: item, session: session)) }
            if let down = spool.unavailableSince(), down >= queuedAt {
                return (event, .queued(reason: "the directory is unavailable (found by a concurrent nova-dirsvc)"))
            }
            if let lock = try? spool.lock(wait: .milliseconds(20)) {
                defer { lock.release() }
                session.drain(until: deadline)
                break
            }
        }
        return (event, try outcome(of: item, session: session))
    }

    /// What became of a queued event after a drain (ours or another process's): still queued,
    /// applied, or set aside for good (then its error is thrown).
    private func outcome(of item: Spool.Item, session: Session) throws -> Result {
        if spool.exists(item) { return .queued(reason: session.stopReason ?? "the time budget ran out") }
        if let error = session.setAside[item.sequence] { throw error }
        if let reason = spool.setAsideReason(item) { throw SetAsideError(reason: reason) }
        return .appliedFromSpool
    }

    /// Replays the whole spool in order (`nova-dirsvc flush`). Waits up to the time budget for
    /// the lock. Returns how many events were applied and how many remain.
    public func flush() throws -> (applied: Int, remaining: Int, quarantined: Int, stopReason: String?) {
        spool.removeStaleTemporaries()
        guard let lock = try spool.lock(wait: .milliseconds(Int64(configuration.timeout * 1000))) else {
            return (0, try spool.pending().count, 0, "another nova-dirsvc holds the spool")
        }
        defer { lock.release() }
        var session = Session(processor: self, deadline: nil)
        defer { session.close() }
        session.drain(until: nil)
        return (session.applied, try spool.pending().count, session.quarantined, session.stopReason)
    }

    // MARK: -

    func decode(_ input: Input, as action: EventDecoder.Action) throws -> InstanceEvent {
        switch input {
        case .json(let data):
            return try EventDecoder.decode(data, for: action)
        case .record(let record):
            return .register(try record.validated())
        case .instanceUUID(let uuid):
            return .unregister(instanceUUID: try Validate.uuid(uuid, field: "instance_uuid"))
        }
    }

    private func enqueue(_ event: InstanceEvent, because reason: String) throws -> Spool.Item {
        do {
            let item = try spool.enqueue(event)
            record(event: event, action: event.action, outcome: "queued", error: nil, detail: reason)
            return item
        } catch {
            record(event: event, action: event.action, outcome: "failed", error: error)
            throw error
        }
    }

    private func queue(_ event: InstanceEvent, because error: LDAPError) throws -> Result {
        do {
            _ = try spool.enqueue(event)
        } catch let spoolError {
            record(event: event, action: event.action, outcome: "failed", error: error, detail: "\(spoolError)")
            throw UnavailableError(directory: error, spool: spoolError)
        }
        record(event: event, action: event.action, outcome: "queued", error: error)
        return .queued(reason: "\(error)")
    }

    func record(event: InstanceEvent?, action: String, outcome: String, error: (any Error)?, detail: String? = nil) {
        guard let log else { return }
        var record: InstanceRecord? = nil
        if case .register(let r) = event { record = r }
        if let failure = log.append(action: action, instanceUUID: event?.instanceUUID, record: record,
                                    outcome: outcome, error: error.map { "\($0)" }, detail: detail) {
            warn("warning: \(failure) (the event was \(outcome))")
        }
    }

    /// One connection (made on first use, with retries) and the spool draining state.
    struct Session {
        let processor: EventProcessor
        let deadline: ContinuousClock.Instant?
        var connection: LDAPConnection?
        var applied = 0
        var quarantined = 0
        var stopReason: String?
        /// The events this session set aside for good, by sequence number, with the reason.
        var setAside: [UInt64: any Error] = [:]

        init(processor: EventProcessor, deadline: ContinuousClock.Instant?) {
            self.processor = processor
            self.deadline = deadline
        }

        mutating func close() {
            connection?.close()
            connection = nil
        }

        /// Connects within the budget: the URIs in order (libldap), then once more after a short
        /// pause if the budget allows (for failover between replicated suppliers).
        mutating func connected() throws -> LDAPConnection {
            if let connection { return connection }
            let configuration = processor.configuration
            let credentials = try configuration.credentials()
            var retried = false
            while true {
                var connectionConfiguration = configuration.connectionConfiguration
                if let deadline {
                    let remaining = (deadline - ContinuousClock.now).seconds
                    guard remaining > 0.01 else {
                        throw LDAPError(code: .timeout, operation: "connect", diagnosticMessage: "the time budget of \(configuration.timeout) s ran out")
                    }
                    connectionConfiguration.networkTimeout = min(connectionConfiguration.networkTimeout, remaining)
                    connectionConfiguration.operationTimeout = min(connectionConfiguration.operationTimeout, remaining)
                }
                do {
                    let connection = try LDAPConnection.connect(connectionConfiguration, credentials: credentials)
                    connection.deadline = deadline
                    self.connection = connection
                    return connection
                } catch let error as LDAPError where error.code.isUnavailable {
                    // one more round after a short pause: enough to ride out a supplier that is
                    // restarting, short enough to leave the budget for queueing
                    let pause = Duration.milliseconds(100)
                    if retried { throw error }
                    if let deadline, ContinuousClock.now + pause >= deadline { throw error }
                    usleep(UInt32(pause.seconds * 1_000_000))
                    retried = true
                }
            }
        }

        mutating func apply(_ event: InstanceEvent) throws -> Registrar.Outcome {
            let registrar = Registrar(connection: try connected(), mapping: EntryMapping(baseDN: processor.configuration.baseDN))
            do {
                return try registrar.apply(event)
            } catch let error as LDAPError where error.code.isUnavailable {
                close()  // the connection is unusable now
                throw error
            }
        }

        /// Replays the spool in order until it is empty, the directory is unavailable, or the
        /// deadline passes. Events for one instance collapse into what they amount to.
        mutating func drain(until deadline: ContinuousClock.Instant?) {
            let spool = processor.spool
            while true {
                guard let items = try? spool.pending(), !items.isEmpty else { return }
                var groups: [String: [(Spool.Item, InstanceEvent)]] = [:]
                var order: [String] = []
                for item in items {
                    do {
                        let event = try spool.read(item)
                        if groups[event.instanceUUID] == nil { order.append(event.instanceUUID) }
                        groups[event.instanceUUID, default: []].append((item, event))
                    } catch {
                        spool.quarantine(item, reason: "\(error)")
                        quarantined += 1
                        processor.warn("warning: \(error): moved to \(spool.directory)/failed/, not replayed")
                        processor.record(event: nil, action: "flush", outcome: "damaged", error: error)
                    }
                }
                for uuid in order {
                    if let deadline, ContinuousClock.now >= deadline {
                        stopReason = "the time budget ran out"
                        return
                    }
                    let group = groups[uuid]!
                    do {
                        for event in Self.collapse(group.map(\.1)) {
                            let outcome = try apply(event)
                            processor.record(event: event, action: event.action, outcome: outcome.rawValue, error: nil, detail: "from the spool")
                        }
                        for (item, _) in group { spool.remove(item) }
                        if applied == 0 { spool.clearUnavailable() }
                        applied += group.count
                    } catch let error as LDAPError where error.code.isUnavailable {
                        stopReason = "\(error)"
                        spool.markUnavailable()
                        return
                    } catch let error as ConfigurationError {
                        stopReason = "\(error)"
                        return
                    } catch {
                        // refused for good (bad data, not allowed, not ours): set aside, go on
                        for (item, _) in group {
                            spool.quarantine(item, reason: "\(error)")
                            setAside[item.sequence] = error
                        }
                        quarantined += group.count
                        processor.warn("warning: \(error): the queued events for \(uuid) were moved to \(spool.directory)/failed/")
                        processor.record(event: group.last?.1, action: group.last?.1.action ?? "flush", outcome: "failed", error: error, detail: "from the spool; set aside")
                    }
                }
            }
        }

        /// What a run of events for one instance amounts to: the last unregister (if any),
        /// then the registers after it merged (later fields win).
        static func collapse(_ events: [InstanceEvent]) -> [InstanceEvent] {
            var result: [InstanceEvent] = []
            var merged: InstanceRecord? = nil
            for event in events {
                switch event {
                case .unregister:
                    result = [event]
                    merged = nil
                case .register(let record):
                    merged = merged.map { $0.overlaid(with: record) } ?? record
                }
            }
            if let merged { result.append(.register(merged)) }
            return result
        }
    }
}

/// A queued event that the directory refused for good when the spool was drained; it is in
/// SPOOL/failed/ (exit 1).
public struct SetAsideError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { "the event was refused when the spool was drained and set aside: \(reason)" }
}

/// The directory was unavailable and the spool could not take the event either (exit 69).
public struct UnavailableError: Error, CustomStringConvertible {
    public let directory: LDAPError
    public let spool: any Error
    public var description: String { "\(directory); and the event could not be queued: \(spool)" }
}

extension InstanceRecord {
    /// This record with every field that `newer` supplies taken from `newer`.
    func overlaid(with newer: InstanceRecord) -> InstanceRecord {
        InstanceRecord(instanceUUID: newer.instanceUUID, imageUUID: newer.imageUUID ?? imageUUID,
                       macAddresses: newer.macAddresses ?? macAddresses, projectName: newer.projectName ?? projectName,
                       userName: newer.userName ?? userName, userRemoteAddress: newer.userRemoteAddress ?? userRemoteAddress,
                       hostname: newer.hostname ?? hostname, ipAddresses: newer.ipAddresses ?? ipAddresses,
                       projectID: newer.projectID ?? projectID, userID: newer.userID ?? userID)
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
