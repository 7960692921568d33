import ArgumentParser
import Glibc
import NovaDirsvc

/// The one exit path of both executables (`nova-dirsvc` and `nova-dirsvc-serve`): every command
/// throws what went wrong, and this maps it to the documented status (as swift-argument-parser's
/// own `main()` does with `exit(withError:)`, plus `ExitStatus` for the domain's errors).
package enum CommandMain {
    package static func run(_ root: any ParsableCommand.Type) -> Never {
        // libldap writes to its socket with write(2): if the server dies mid-request, the
        // default SIGPIPE would kill the process before it could queue the event. Ignored,
        // the write fails with EPIPE and the error path (spool, exit 75) runs.
        signal(SIGPIPE, SIG_IGN)
        var command: any ParsableCommand
        do {
            command = try root.parseAsRoot()
        } catch {
            root.exit(withError: error)  // ArgumentParser's own: usage errors (64), --help, --version
        }
        do {
            try command.run()
        } catch let error as ExitCode {
            type(of: command).exit(withError: error)
        } catch let error as ValidationError {
            // a usage error found in run(): as ArgumentParser prints one, with the subcommand's usage
            POSIX.write(
                2,
                "Error: \(error.message)\nUsage: \(root.usageString(for: type(of: command)))\n"
                    + "  See '\(root._commandName) \(type(of: command)._commandName) --help' for more information.\n")
            Glibc.exit(ExitStatus.usage.rawValue)
        } catch  where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // `--help` parses into ArgumentParser's own help command, whose run() throws its
            // request: printed by ArgumentParser (exit 0), as its own main() does
            root.exit(withError: error)
        } catch {
            POSIX.write(2, "nova-dirsvc: error: \(error)\n")
            Glibc.exit(ExitStatus(for: error).rawValue)
        }
        Glibc.exit(0)
    }
}

/// A line on standard error, prefixed with the program's name.
package func warn(_ message: String) {
    POSIX.write(2, "nova-dirsvc: \(message)\n")
}
