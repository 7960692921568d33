import ArgumentParser
import CommandSupport
import Glibc
import NovaDirsvc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

@main
struct NovaDirsvcCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nova-dirsvc",
        abstract: "Keep OpenStack Nova instances in an LDAP directory (389 Directory Server, OpenLDAP).",
        discussion: """
            Each instance is the entry cn=<instance_uuid>,<base DN> (inetOrgPerson +
            novaInstance).
            Settings come from flags, then NOVA_DIRSVC_* environment variables, then the
            configuration file (\(Configuration.defaultConfigFile)), then ldap.conf (URI,
            BASE, TLS_CACERT).

            EXIT STATUS
              0   done (also: unregister of an instance that was not registered; a
                  notification the command does not act on, reported as ignored)
              1   anything else (e.g. a server refusal not listed below; the event is kept
                  in SPOOL/failed/ with its reason)
              64  usage or configuration error (register/unregister: the event was queued)
              65  bad input: the message names the field and the reason; nothing was
                  written
              69  the directory could not be reached and the event could not be queued
                  either
              75  queued: the directory was unavailable (or busy) within the time budget;
                  the event waits in the spool for the next event or `nova-dirsvc flush`
              77  bind refused or not allowed (the event was queued), or the entry is not
                  nova-dirsvc's (the event is kept in SPOOL/failed/)
            """,
        subcommands: [
            RegisterCommand.self, UnregisterCommand.self, ApplyCommand.self, FlushCommand.self, ReconcileCommand.self, ShowCommand.self,
            SchemaCommand.self, SettingsCommand.self, CheckConfigCommand.self, ServeCommand.self,
        ]
    )

    /// `serve` is its own executable (ServeCommand.swift: the CLI keeps no broker or server
    /// code in its start-up path); everything else goes through the one exit path.
    static func main() {
        let arguments = CommandLine.arguments
        if arguments.count > 1 && arguments[1] == ServeCommand.configuration.commandName {
            ServeCommand.execute(Array(arguments.dropFirst(2)))
        }
        CommandMain.run(Self.self)
    }
}
