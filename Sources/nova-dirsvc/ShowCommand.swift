import ArgumentParser
import CommandSupport
import NovaDirsvc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print an instance's entry (exit 1 when it is not registered).")

    enum Format: String, ExpressibleByArgument, CaseIterable { case ldif, json }

    @Option(help: ArgumentHelp(valueName: "uuid"))
    var instanceUUID: String

    @Option(help: "Output format.")
    var format: Format = .ldif

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let configuration = try connection.resolve()
        let uuid = try InstanceRecord(instanceUUID: instanceUUID).validated().instanceUUID
        let session = DirectorySession(configuration: configuration)
        defer { session.close() }
        let (found, conflicts) = try session.run(before: .now + configuration.timeout) { ldap in
            let registrar = Registrar(connection: ldap, mapping: EntryMapping(baseDN: configuration.baseDN))
            return (try registrar.show(uuid), try registrar.conflicts(uuid))
        }
        for dn in conflicts {
            warn("warning: a replication conflict entry exists for this instance: \(dn) (`nova-dirsvc reconcile` removes it)")
        }
        guard let entry = found else {
            warn("\(uuid) is not registered")
            throw ExitCode(1)
        }
        switch format {
        case .ldif: print(LDIF.entry(entry))
        case .json:
            print(LDIF.json(entry).prettyText)
        }
    }
}
