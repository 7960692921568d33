import Foundation
import LDAP

/// The register/unregister path the CLI runs: decode, connect, apply, log.
///
/// Every event is logged (JSON lines, see `EventLog`) with its outcome, including rejected
/// and failed ones. Nothing is written to the directory unless the event decoded and
/// validated completely.
public struct EventProcessor {
    public let configuration: Configuration
    public let log: EventLog?
    /// Receives warnings that must not stop the event (an unwritable log).
    public var warn: (String) -> Void

    public init(configuration: Configuration, warn: @escaping (String) -> Void) {
        self.configuration = configuration
        self.log = configuration.logFile.map(EventLog.init(path:))
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

    /// Decodes and applies one event. Throws after logging the failure.
    public func process(_ input: Input, as action: EventDecoder.Action) throws -> (InstanceEvent, Registrar.Outcome) {
        let event: InstanceEvent
        do {
            event = try decode(input, as: action)
        } catch {
            record(action: action.rawValue, event: nil, outcome: "rejected", error: error)
            throw error
        }
        do {
            let connection = try LDAPConnection.connect(configuration.connectionConfiguration,
                                                        credentials: configuration.credentials())
            defer { connection.close() }
            let outcome = try Registrar(connection: connection, mapping: EntryMapping(baseDN: configuration.baseDN)).apply(event)
            record(action: action.rawValue, event: event, outcome: outcome.rawValue, error: nil)
            return (event, outcome)
        } catch {
            record(action: action.rawValue, event: event, outcome: "failed", error: error)
            throw error
        }
    }

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

    private func record(action: String, event: InstanceEvent?, outcome: String, error: (any Error)?) {
        guard let log else { return }
        var record: InstanceRecord? = nil
        if case .register(let r) = event { record = r }
        if let failure = log.append(action: action, instanceUUID: event?.instanceUUID, record: record,
                                    outcome: outcome, error: error.map { "\($0)" }) {
            warn("warning: \(failure) (the event itself was \(outcome == "failed" || outcome == "rejected" ? "not applied" : "applied"))")
        }
    }
}
