import ArgumentParser
import CommandSupport
import NovaDirsvc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

struct UnregisterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unregister",
        abstract: "Delete an instance's entry (success, saying so, if there is none).",
        discussion: """
            The event comes from --event (a file, or - for standard input: a record JSON
            with instance_uuid, a Nova versioned notification instance.delete.end, the
            same in an oslo.messaging envelope, or the legacy compute.instance.delete.end)
            or --instance-uuid.
            Only an entry with the novaInstance object class is ever deleted. Any other
            notification is ignored (exit 0, logged); `nova-dirsvc apply` acts on all.
            """)

    @Option(help: ArgumentHelp("Read the event JSON from a file, or - for standard input.", valueName: "path|-"))
    var event: String?

    @Option(help: ArgumentHelp(valueName: "uuid"))
    var instanceUUID: String?

    @OptionGroup var connection: ConnectionOptions

    /// Checked in run(), not in validate(): ArgumentParser calls validate() before it reports an
    /// unknown option, which must be named first (`--timout`: "did you mean --timeout?").
    func checkFlags() throws {
        if (event == nil) == (instanceUUID == nil) {
            throw ValidationError("give exactly one of --event and --instance-uuid")
        }
    }

    func run() throws {
        try checkFlags()
        let input: EventDecoder.Input = if let event { .json(try EventDecoder.read(path: event)) } else { .instanceUUID(instanceUUID!) }
        try submit(input, as: .unregister, with: connection)
    }
}
