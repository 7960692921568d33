import ArgumentParser
import CommandSupport
import NovaDirsvc

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply any Nova notification: register, unregister, update or ignore, by its event type.",
        discussion: """
            --event takes a Nova notification (versioned or legacy, plain or in its
            oslo.messaging envelope) and does what its event type says:
            instance.create.end registers, instance.delete.end unregisters,
            instance.update, instance.interface_attach.end, instance.interface_detach.end
            and instance.rebuild.end update an existing entry with what they carry (an
            absent entry is not created), and any other event type is ignored (exit 0,
            logged with the instance's UUID). A record (the DICT) registers.
            A bus consumer or a script never has to pick the command.
            """)

    @Option(help: ArgumentHelp("Read the event JSON from a file, or - for standard input.", valueName: "path|-"))
    var event: String

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try submit(.json(try EventDecoder.read(path: event)), as: .any, with: connection)
    }
}
