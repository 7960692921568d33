import ArgumentParser
import CommandSupport
import NovaDirsvc

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check the settings strictly and reach the directory with them, writing nothing.",
        discussion: """
            Resolves the settings as every command does (flags, NOVA_DIRSVC_*, the file,
            ldap.conf), but an unknown key or section in the file is an error here, not a
            warning. Then connects, binds and reads the base DN. Prints what it found
            (never the password).
            Exit status: 0 all good; 64 a setting is wrong (or the base DN does not
            exist); 69 no server answered; 77 the bind was refused.
            """)

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let configuration = try connection.resolve(strict: true)
        let checked = try Directory.check(configuration, deadline: .now + configuration.timeout)
        print("configuration: ok")
        print("directory: \(checked.uri) as \(checked.identity)")
        print("base DN: \(configuration.baseDN) exists")
        print("spool: \(configuration.spoolDirectory)  event log: \(configuration.logFile ?? "none")")
    }
}
