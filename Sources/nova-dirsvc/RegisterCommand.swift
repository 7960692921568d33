import ArgumentParser
import CommandSupport
import NovaDirsvc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

struct RegisterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Add an instance's entry, or bring it up to date (idempotent).",
        discussion: """
            The event comes from --event (a file, or - for standard input: the record
            JSON, a Nova versioned notification instance.create.end, the same in an
            oslo.messaging envelope, or the legacy compute.instance.create.end) or from
            the record flags, all six required.
            Only instance_uuid must be usable: any other value that cannot be used is left
            out with a warning naming it, and the rest registers (flags are checked
            strictly). Any other notification is ignored (exit 0, logged); `nova-dirsvc
            apply` acts on all.
            """)

    @Option(help: ArgumentHelp("Read the event JSON from a file, or - for standard input.", valueName: "path|-"))
    var event: String?

    @Option(help: ArgumentHelp(valueName: "uuid")) var instanceUUID: String?
    @Option(help: ArgumentHelp(valueName: "uuid")) var imageUUID: String?
    @Option(help: ArgumentHelp("Repeatable.", valueName: "mac")) var macAddress: [String] = []
    @Option(help: ArgumentHelp(valueName: "name")) var projectName: String?
    @Option(help: ArgumentHelp(valueName: "name")) var userName: String?
    @Option(help: ArgumentHelp(valueName: "address")) var userRemoteAddress: String?
    @Option(help: ArgumentHelp(valueName: "name")) var hostname: String?
    @Option(help: ArgumentHelp("Repeatable.", valueName: "address")) var ipAddress: [String] = []

    @OptionGroup var connection: ConnectionOptions

    /// Checked in run(), not in validate(): ArgumentParser calls validate() before it reports an
    /// unknown option, which must be named first (`--timout`: "did you mean --timeout?").
    func checkFlags() throws {
        let recordFlags: [(String, Bool)] = [
            ("--instance-uuid", instanceUUID != nil), ("--image-uuid", imageUUID != nil),
            ("--mac-address", !macAddress.isEmpty), ("--project-name", projectName != nil),
            ("--user-name", userName != nil), ("--user-remote-address", userRemoteAddress != nil),
        ]
        if event != nil {
            if recordFlags.contains(where: \.1) || hostname != nil || !ipAddress.isEmpty {
                throw ValidationError("--event and the record flags exclude each other")
            }
        } else {
            let missing = recordFlags.filter { !$0.1 }.map(\.0)
            if !missing.isEmpty { throw ValidationError("missing \(missing.joined(separator: ", ")) (or use --event)") }
        }
    }

    func run() throws {
        try checkFlags()
        let input: EventDecoder.Input
        if let event {
            input = .json(try EventDecoder.read(path: event))
        } else {
            input = .record(
                InstanceRecord(
                    instanceUUID: instanceUUID!, imageUUID: imageUUID, macAddresses: macAddress, projectName: projectName,
                    userName: userName, userRemoteAddress: userRemoteAddress, hostname: hostname,
                    ipAddresses: ipAddress.isEmpty ? nil : ipAddress))
        }
        try submit(input, as: .register, with: connection)
    }
}
