#if canImport(Glibc)
    import Glibc
#endif

struct SocketFailure: Error {}

private func loopbackSocket(listen: Bool) throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SocketFailure() }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            bind(fd, sa, length) == 0 && (!listen || Glibc.listen(fd, 16) == 0) && getsockname(fd, sa, &length) == 0
        }
    }
    guard ok else {
        Glibc.close(fd)
        throw SocketFailure()
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// A loopback TCP port that nothing listens on (bound, then released).
public enum FreePort {
    public static func closed() throws -> Int {
        let (fd, port) = try loopbackSocket(listen: false)
        Glibc.close(fd)
        return port
    }
}

/// A loopback listener that never accepts or answers: connections complete (the kernel's
/// backlog) and then hang, as a wedged server would.
public final class SilentListener {
    private var fd: Int32
    public let port: Int
    public init() throws { (fd, port) = try loopbackSocket(listen: true) }
    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
    deinit { close() }
}
