import Glibc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Reading the spool: what is queued, reading one event (with the trust checks of `Spool`),
/// setting files aside, and the small state files beside the events.
extension Spool {
    /// The queued events, oldest first. Missing folder: none.
    package func pending() throws -> [Item] {
        POSIX.names(in: directory).compactMap { name -> Item? in
            guard name.utf8.count == 26, let sequence = Self.sequence(ofName: name) else { return nil }
            return Item(sequence: sequence, path: "\(directory)/\(name)")
        }.sorted()
    }

    /// Files named like events that nova-dirsvc did not name (e.g. a number out of range).
    func strays() -> [String] {
        POSIX.names(in: directory).filter { $0.hasSuffix(".event") && !($0.utf8.count == 26 && Self.sequence(ofName: $0) != nil) }
    }

    package func exists(_ item: Item) -> Bool {
        var info = stat()
        return lstat(item.path, &info) == 0
    }

    /// Reads a queued event; throws `InputError` for a file that must not be replayed (see
    /// the type's documentation on trust) or does not decode.
    package func read(_ item: Item) throws -> InstanceEvent { try readTimed(item).event }

    /// `read`, with the event's time by Nova's clock when it had one.
    package func readTimed(_ item: Item) throws -> (event: InstanceEvent, time: EventTime?) {
        let fd = open(item.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw InputError(field: "spool", reason: "cannot open \(item.path) (\(errno == ELOOP ? "a symbolic link" : POSIX.errorText))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw InputError(field: "spool", reason: "\(item.path) is not a regular file")
        }
        guard info.st_uid == geteuid() else {
            throw InputError(field: "spool", reason: "\(item.path) is owned by uid \(info.st_uid), not by the user running nova-dirsvc")
        }
        guard info.st_size <= Self.maxFileSize, let data = POSIX.readAll(fd, limit: Self.maxFileSize + 1),
            data.count <= Self.maxFileSize
        else {
            throw InputError(field: "spool", reason: "\(item.path) is larger than an event can be")
        }
        guard data.last == 0x0A, let object = (try? JSONValue.parse(data))?.object else {
            throw InputError(field: "spool", reason: "\(item.path) is cut short or damaged")
        }
        return (try Self.decode(object), Self.eventTime(object))
    }

    package func remove(_ item: Item) { unlink(item.path) }

    /// Moves a file that must not be replayed to `failed/` (never replacing a file there),
    /// with the reason beside it. Throws (leaving the file where it is) when `failed/` cannot
    /// be used.
    package func quarantine(_ item: Item, reason: String) throws { try quarantine(name: item.name, reason: reason) }

    func quarantine(name: String, reason: String) throws {
        let source = "\(directory)/\(name)"
        try checkedDirectory(failedDirectory)
        var target = "\(failedDirectory)/\(name)"
        var attempt = 1
        while link(source, target) != 0 {
            if errno == EPERM {
                // not a file (a folder named like an event): link(2) cannot move it; rename(2)
                // can, to a name that is free (the spool's lock keeps it free)
                var info = stat()
                guard lstat(target, &info) != 0, rename(source, target) == 0 else { throw failure("cannot move \(name) to failed/") }
                writeReason(for: target, reason)
                return
            }
            guard errno == EEXIST, attempt < 1000 else { throw failure("cannot move \(name) to failed/") }
            target = "\(failedDirectory)/\(name).\(attempt)"
            attempt += 1
        }
        unlink(source)
        writeReason(for: target, reason)
    }

    func writeReason(for path: String, _ reason: String) {
        let fd = open(path + ".reason", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let text = Array((reason + "\n").utf8)
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// Why an event was moved to `failed/`, or nil if it was not.
    package func setAsideReason(_ item: Item) -> String? {
        POSIX.read(path: "\(failedDirectory)/\(item.name).reason", limit: 65536, followSymlinks: false)
            .map { String(decoding: $0, as: UTF8.self).trimmed }
    }

    /// Removes temporary files older than an hour (left by a crash mid-write).
    package func removeStaleTemporaries() {
        let cutoff = time(nil) - 3600
        for name in POSIX.names(in: directory) where name.hasPrefix(".tmp-") {
            var info = stat()
            let path = "\(directory)/\(name)"
            if lstat(path, &info) == 0, info.st_mtim.tv_sec < cutoff { unlink(path) }
        }
    }

    /// Notes that the directory was just found unavailable, so that processes waiting for the
    /// spool to drain give up at once instead of waiting out their budget.
    package func markUnavailable() {
        let fd = open("\(directory)/.unavailable", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
    }

    package func clearUnavailable() { unlink("\(directory)/.unavailable") }

    /// When the directory was last found unavailable (nil: not since it last worked).
    package func unavailableSince() -> Date? {
        var info = stat()
        guard lstat("\(directory)/.unavailable", &info) == 0 else { return nil }
        return Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }

    /// The exclusive right to apply events (see the type's documentation); nil when another
    /// process keeps it for longer than `wait`.
    package func lock(wait: Duration) throws -> FileLock? {
        try checkedDirectory(directory)
        do { return try FileLock(path: "\(directory)/.lock", wait: wait) } catch is FileLock.Busy { return nil }
    }
}
