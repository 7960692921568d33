import ArgumentParser
import CommandSupport
import Glibc
import NovaDirsvc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `reconcile --from-nova`'s list: the pages of Nova's `/servers/detail`, fetched by
/// `nova-dirsvc-serve --nova-servers` (installed beside this executable: Keystone and Nova are
/// reached through libcurl and OpenSSL, which the per-event CLI must not load) and read from its
/// standard output as they come, each decoded and let go. The child reads the same
/// configuration ([nova]: no secret crosses a command line or the environment); its errors go
/// to standard error as they are, and its exit status (77, 69, 64) is this command's.
enum NovaServerPages {
    static func stream(
        configFile: String?, baseDN: String, _ body: (InstanceListDecoder.InstanceList) throws -> Void
    ) throws {
        let path = ServeCommand.executable
        var arguments = [path, "--nova-servers", "--base-dn", baseDN]
        if let configFile { arguments += ["--config", configFile] }
        var pipe: [Int32] = [0, 0]
        guard Glibc.pipe(&pipe) == 0 else { throw ConfigurationError("cannot make a pipe: \(String(cString: strerror(errno)))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipe[0])
        posix_spawn_file_actions_addclose(&actions, pipe[1])
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(pipe[1])
        guard spawned == 0 else {
            close(pipe[0])
            throw HelperMissing(
                description: "cannot run \(path): \(String(cString: strerror(spawned))) (nova-dirsvc-serve is installed beside nova-dirsvc)"
            )
        }
        var reader = FrameReader(fd: pipe[0])
        defer { close(pipe[0]) }
        var pages = InstanceListDecoder.Pages()
        var failure: (any Error)? = nil
        do {
            while let page = try reader.next() { try body(try pages.decode(document: Data(page)).list) }
        } catch {
            failure = error
            kill(pid, SIGTERM)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        let code = exited ? (status >> 8) & 0xff : 1
        if let failure { throw failure }
        guard code == 0 else { throw ExitCode(code) }  // its message is on standard error already
        try pages.finish()
    }

    /// `<length>\n<bytes>` frames, as `nova-dirsvc-serve --nova-servers` writes them.
    struct FrameReader {
        let fd: Int32
        var buffer: [UInt8] = []

        mutating func next() throws -> [UInt8]? {
            while true {
                if let newline = buffer.firstIndex(of: 0x0A) {
                    guard let length = Int(String(decoding: buffer[..<newline], as: UTF8.self)), length >= 0, length <= 1 << 30 else {
                        throw InputError(field: "instances", reason: "nova-dirsvc-serve --nova-servers wrote something other than pages")
                    }
                    if buffer.count - newline - 1 >= length {
                        let page = Array(buffer[(newline + 1)..<(newline + 1 + length)])
                        buffer.removeFirst(newline + 1 + length)
                        return page
                    }
                }
                var chunk = [UInt8](repeating: 0, count: 1 << 16)
                let count = read(fd, &chunk, chunk.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 {
                    return nil  // the child ended: its exit status says how
                }
                buffer += chunk[..<count]
            }
        }
    }
}

/// nova-dirsvc-serve could not be run (69, as `nova-dirsvc serve` says it).
struct HelperMissing: Error, CustomStringConvertible, ExitStatusProviding {
    let description: String
    var exitStatus: ExitStatus { .unavailable }
}
