import ArgumentParser
import Glibc
import NovaDirsvc

/// `nova-dirsvc serve ...` runs `nova-dirsvc-serve ...`, installed beside `nova-dirsvc`: the
/// service (RabbitMQ's client and its OpenSSL, the loop) lives in its own executable, so that
/// none of it is loaded when a hook runs `register` (start-up time: docs/benchmarks.md).
/// `NovaDirsvcCommand.main` hands the arguments over before parsing; this type only gives
/// `serve` its line in `nova-dirsvc --help`.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Follow Nova's notifications on the message bus (RabbitMQ) into the directory, as a service.",
        discussion: "Runs nova-dirsvc-serve, installed beside nova-dirsvc: see `nova-dirsvc serve --help`.")

    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []

    func run() throws { Self.execute(arguments) }

    /// The executable beside this one.
    static var executable: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        let own =
            length > 0
            ? String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            : CommandLine.arguments[0]
        let folder = own.lastIndex(of: "/").map { String(own[..<$0]) } ?? "."
        return folder + "/nova-dirsvc-serve"
    }

    /// Replaces this process with the service; returns only by exiting 69 when it cannot.
    static func execute(_ arguments: [String]) -> Never {
        let path = executable
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        POSIX.write(
            2,
            "nova-dirsvc: error: cannot run \(path): \(String(cString: strerror(errno))) "
                + "(nova-dirsvc-serve is installed beside nova-dirsvc)\n")
        Glibc.exit(ExitStatus.unavailable.rawValue)
    }
}
