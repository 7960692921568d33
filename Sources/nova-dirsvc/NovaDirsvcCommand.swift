import ArgumentParser
import Foundation
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
              69  the directory could not be reached or did not answer in time
              77  bind refused, not allowed, or the entry is not nova-dirsvc's
            """,
        subcommands: [RegisterCommand.self, UnregisterCommand.self, ReconcileCommand.self, ShowCommand.self, SchemaCommand.self]
    )
}

/// Prints an error and exits with the documented status for it.
func fail(_ error: any Error) -> ExitCode {
    FileHandle.standardError.write(Data("nova-dirsvc: error: \(error)\n".utf8))
    return ExitCode(ExitStatus(for: error).rawValue)
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("nova-dirsvc: \(message)\n".utf8))
}
