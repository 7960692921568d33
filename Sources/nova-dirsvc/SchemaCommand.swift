import ArgumentParser
import NovaDirsvc

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the schema LDIF (the same definitions as the files in schema/).")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case ds389 = "389ds"
        case ds389Online = "389ds-online"
        case openldap
    }

    @Option(
        help: "389ds: a cn=schema file for the instance's schema folder; 389ds-online: an ldapmodify change; openldap: a cn=config entry.")
    var format: Format = .ds389

    @Option(help: ArgumentHelp("Accepted like every command's; the schema does not depend on it.", valueName: "path"))
    var config: String?

    func run() {
        switch format {
        case .ds389: print(NovaSchema.ldif389ds, terminator: "")
        case .ds389Online: print(NovaSchema.ldif389dsOnline, terminator: "")
        case .openldap: print(NovaSchema.ldifOpenLDAP, terminator: "")
        }
    }
}
