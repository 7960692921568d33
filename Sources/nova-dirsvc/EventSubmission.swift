import ArgumentParser
import CommandSupport
import NovaDirsvc

/// register, unregister and apply: decode the event, then hand it to the event path within the
/// time budget (which starts after decoding: slow input is not a slow directory).
func submit(_ input: EventDecoder.Input, as action: EventDecoder.Action, with options: ConnectionOptions) throws {
    let configuration = try options.resolve()
    let path = EventPath(configuration: configuration, warn: warn)
    let decoded = try path.decode(input, as: action)
    guard case .apply(let event) = decoded.kind else {
        if case .ignored(let eventType, let uuid) = decoded.kind {
            print("ignored \(uuid ?? "(no instance)"): \(eventType) is not acted on by `\(action == .any ? "apply" : action.rawValue)`")
        }
        return
    }
    let session = DirectorySession(configuration: configuration)
    defer { session.close() }
    let outcome = try path.submit(event, through: session, deadline: .now + configuration.timeout)
    let verb = ["register": "registered", "unregister": "unregistered", "update": "updated"][event.action] ?? event.action
    switch outcome {
    case .applied(.absent): print("\(verb) \(event.instanceUUID): absent (it was not registered)")
    case .applied(let outcome): print("\(verb) \(event.instanceUUID): \(outcome.rawValue)")
    case .appliedFromSpool: print("\(verb) \(event.instanceUUID): applied from the spool")
    case .queued(let reason):
        warn("\(event.action) \(event.instanceUUID) queued: \(reason); `nova-dirsvc flush` (or the next event) will apply it")
        throw ExitCode(ExitStatus.tempFail.rawValue)
    }
}
