import Glibc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Small POSIX helpers (FoundationEssentials has no FileHandle).
package enum POSIX {
    /// Reads a file descriptor to its end, or up to `limit` bytes.
    package static func readAll(_ fd: Int32, limit: Int = .max) -> Data? {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while data.count < limit {
            let n = Glibc.read(fd, &buffer, Swift.min(buffer.count, limit - data.count))
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    /// Reads a file, or standard input for "-", up to `limit` bytes.
    package static func read(path: String, limit: Int = .max, followSymlinks: Bool = true) -> Data? {
        if path == "-" { return readAll(0, limit: limit) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | (followSymlinks ? 0 : O_NOFOLLOW))
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return readAll(fd, limit: limit)
    }

    /// The names in a folder (without "." and ".."); none when it cannot be read.
    static func names(in path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Writes all of `text` to a file descriptor (standard output 1, standard error 2).
    /// Raises the soft limit on open files to the hard one (as Go's runtime does at start): the
    /// 1,024 a shell or a unit without LimitNOFILE gives is what idle HTTP connections exhaust.
    /// Returns the soft limit now in force.
    package static func raiseOpenFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: min(limit.rlim_cur, rlim_t(Int32.max)))  // RLIM_INFINITY is the largest rlim_t
    }

    package static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(n)
        }
    }

    /// The current error as text.
    static var errorText: String { String(cString: strerror(errno)) }

    /// Why a file cannot be used, from stat(2): missing, no permission, not a regular file.
    package static func fileProblem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == ENOENT ? "it does not exist" : errno == EACCES ? "permission denied" : errorText
        }
        guard info.st_mode & S_IFMT == S_IFREG else { return "it is not a regular file" }
        guard access(path, R_OK) == 0 else { return "permission denied" }
        return nil
    }
}
