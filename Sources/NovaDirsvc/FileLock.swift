import Glibc

/// An flock(2) lock on a file, held until `release()` (or the process ends: a crash never
/// leaves it held).
package final class FileLock {
    struct Busy: Error {}
    private var fd: Int32

    /// Takes the lock, waiting up to `wait` (polling); throws `Busy` if it stays taken.
    init(path: String, wait: Duration) throws {
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Spool.Failure(description: "cannot open the lock \(path): \(POSIX.errorText)") }
        let deadline = ContinuousClock.now + wait
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < deadline else {
                close(fd)
                throw Busy()
            }
            usleep(2_000)
        }
    }

    package func release() {
        if fd >= 0 {
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}
