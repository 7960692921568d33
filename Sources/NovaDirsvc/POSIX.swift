#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small POSIX helpers (FoundationEssentials has no FileHandle).
public enum POSIX {
    /// Reads a file descriptor to its end, or up to `limit` bytes.
    public static func readAll(_ fd: Int32, limit: Int = .max) -> Data? {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while data.count < limit {
            let n = Glibc.read(fd, &buffer, Swift.min(buffer.count, limit - data.count))
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    /// Reads a file, or standard input for "-", up to `limit` bytes.
    public static func read(path: String, limit: Int = .max) -> Data? {
        if path == "-" { return readAll(0, limit: limit) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return readAll(fd, limit: limit)
    }

    /// Writes all of `text` to a file descriptor (standard output 1, standard error 2).
    public static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return }
            bytes = bytes.dropFirst(n)
        }
    }

    /// The current error as text.
    static var errorText: String { String(cString: strerror(errno)) }
}
