import ArgumentParser
import Glibc
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
              0   done (also: unregister of an instance that was not registered; a notification
                  the command does not act on, reported as ignored)
              1   anything else (e.g. a server refusal not listed below; the event is kept in
                  SPOOL/failed/ with its reason)
              64  usage or configuration error (register/unregister: the event was queued)
              65  bad input: the message names the field and the reason; nothing was written
              69  the directory could not be reached and the event could not be queued either
              75  queued: the directory was unavailable (or busy) within the time budget; the
                  event waits in the spool for the next event or `nova-dirsvc flush`
              77  bind refused or not allowed (the event was queued), or the entry is not
                  nova-dirsvc's (the event is kept in SPOOL/failed/)
            """,
        subcommands: [RegisterCommand.self, UnregisterCommand.self, ApplyCommand.self, FlushCommand.self, ReconcileCommand.self, ShowCommand.self, SchemaCommand.self, CheckConfigCommand.self, ServeCommand.self]
    )

    /// The one exit path: every subcommand throws what went wrong, and this maps it to the
    /// documented status (as swift-argument-parser's own `main()` does with `exit(withError:)`).
    static func main() {
        // libldap writes to its socket with write(2): if the server dies mid-request, the
        // default SIGPIPE would kill the process before it could queue the event. Ignored,
        // the write fails with EPIPE and the error path (spool, exit 75) runs.
        signal(SIGPIPE, SIG_IGN)
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)  // ArgumentParser's own: usage errors (64), --help, --version
        }
        do {
            try command.run()
        } catch let error as ExitCode {
            type(of: command).exit(withError: error)
        } catch let error as ValidationError {
            // a usage error found in run(): as ArgumentParser prints one, with the subcommand's usage
            POSIX.write(2, "Error: \(error.message)\nUsage: \(usageString(for: type(of: command)))\n"
                           + "  See 'nova-dirsvc \(type(of: command)._commandName) --help' for more information.\n")
            Glibc.exit(ExitStatus.usage.rawValue)
        } catch {
            POSIX.write(2, "nova-dirsvc: error: \(error)\n")
            Glibc.exit(ExitStatus(for: error).rawValue)
        }
    }
}

func warn(_ message: String) {
    POSIX.write(2, "nova-dirsvc: \(message)\n")
}
