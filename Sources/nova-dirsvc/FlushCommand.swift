import ArgumentParser
import NovaDirsvc

struct FlushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush",
        abstract: "Apply the events queued in the spool, in the order they arrived.",
        discussion: """
            Events for one instance collapse into what they amount to (a register followed by an
            unregister is one delete). An event is removed from the spool only after the directory
            confirmed it. A damaged spool file, or an event the directory refuses for good, is moved
            to SPOOL/failed/ and reported. Run it from a timer (examples/systemd/) or cron.
            Exit status: 0 the spool is empty; 75 events remain (the directory is unavailable);
            1 something was set aside in SPOOL/failed/; 64, 77 as for register.
            """)

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        do {
            let processor = EventProcessor(configuration: try connection.resolve(), warn: warn)
            let result = try processor.flush()
            print("flush: applied \(result.applied), remaining \(result.remaining), set aside \(result.quarantined)")
            if result.remaining > 0 {
                warn("flush stopped: \(result.stopReason ?? "unknown")")
                throw ExitCode(ExitStatus.tempFail.rawValue)
            }
            if result.quarantined > 0 { throw ExitCode(1) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw fail(error)
        }
    }
}
