import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NovaDirsvc

@main
struct NovaDirsvcCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nova-dirsvc",
        abstract: "Keep OpenStack Nova instances in an LDAP directory (389 Directory Server, OpenLDAP).",
        discussion: """
            Each instance is the entry cn=<instance_uuid>,<base DN> (inetOrgPerson + novaInstance).
            Settings come from flags, then NOVA_DIRSVC_* environment variables, then the
            configuration file (\(Configuration.defaultConfigFile)), then ldap.conf (URI, BASE, TLS_CACERT).

            EXIT STATUS
              0   done (also: unregister of an instance that was not registered)
              1   anything else (e.g. a server refusal not listed below)
              64  usage or configuration error
              65  bad input: the message names the field and the reason; nothing was written
              69  the directory could not be reached and the event could not be queued either
              75  queued: the directory was unavailable (or busy) within the time budget; the
                  event waits in the spool for the next event or `nova-dirsvc flush`
              77  bind refused, not allowed, or the entry is not nova-dirsvc's
            """,
        subcommands: [RegisterCommand.self, UnregisterCommand.self, FlushCommand.self, ReconcileCommand.self, ShowCommand.self, SchemaCommand.self]
    )

    static func main() {
        // libldap writes to its socket with write(2): if the server dies mid-request, the
        // default SIGPIPE would kill the process before it could queue the event. Ignored,
        // the write fails with EPIPE and the error path (spool, exit 75) runs.
        signal(SIGPIPE, SIG_IGN)
        main(nil)
    }
}

/// Prints an error and exits with the documented status for it.
func fail(_ error: any Error) -> ExitCode {
    POSIX.write(2, "nova-dirsvc: error: \(error)\n")
    return ExitCode(ExitStatus(for: error).rawValue)
}

func warn(_ message: String) {
    POSIX.write(2, "nova-dirsvc: \(message)\n")
}

/// Prints what became of an event; exits 75 when it was queued.
func report(_ result: EventProcessor.Result, _ verb: String, _ event: InstanceEvent) throws {
    switch result {
    case .applied(.absent): print("\(verb) \(event.instanceUUID): absent (it was not registered)")
    case .applied(let outcome): print("\(verb) \(event.instanceUUID): \(outcome.rawValue)")
    case .appliedFromSpool: print("\(verb) \(event.instanceUUID): applied from the spool")
    case .queued(let reason):
        warn("\(event.action) \(event.instanceUUID) queued: \(reason); `nova-dirsvc flush` (or the next event) will apply it")
        throw ExitCode(ExitStatus.tempFail.rawValue)
    }
}
