import ArgumentParser
import NovaDirsvc

struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Print every setting with its default and meaning: as a commented configuration file, or as a table.",
        discussion: """
            --format ini is examples/config/nova-dirsvc.conf, a starting point for
            \(Configuration.defaultConfigFile); --format markdown is docs/settings.md.
            Both are rendered from one declaration per setting.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case ini
        case markdown
    }

    @Option(help: "ini: a configuration file, every key commented; markdown: the reference tables.")
    var format: Format = .ini

    func run() {
        switch format {
        case .ini: print(Configuration.exampleFile(), terminator: "")
        case .markdown: print(Configuration.referenceDocument(), terminator: "")
        }
    }
}
