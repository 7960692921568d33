#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The durable queue of events that could not be applied in time: one file per event in the
/// spool folder, named by arrival order (`00000000000000000042.event`).
///
/// - Writing: the event goes to a temporary file (`.tmp-*`), is fsync'd, renamed into place
///   under its sequence number, and the folder is fsync'd; a crash at any point leaves either
///   no event or a whole one (a stray `.tmp-*` is never read, and is removed after an hour).
/// - Order: sequence numbers are allocated under `.seq.lock`; replay is by sequence number.
/// - Exclusion: whoever applies events to the directory, from the spool or directly, holds
///   `.lock` (flock), so no event for an instance can overtake an earlier one.
/// - A file that does not decode (cut short, damaged) is moved to `failed/` and reported,
///   never replayed; so is an event the directory refuses for good (bad input, not allowed).
public struct Spool: Sendable {
    public let directory: String
    public static let defaultDirectory = "/var/spool/nova-dirsvc"

    public init(directory: String) { self.directory = directory }

    /// A queued event's file.
    public struct Item: Hashable, Sendable, Comparable {
        public let sequence: UInt64
        public let path: String
        public static func < (a: Item, b: Item) -> Bool { a.sequence < b.sequence }
    }

    /// Why a spool operation failed (the caller exits 69: the event could not be kept).
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private func failure(_ what: String) -> Failure {
        Failure(description: "spool \(directory): \(what): \(POSIX.errorText)")
    }

    func ensureDirectory() throws {
        var info = stat()
        if stat(directory, &info) == 0 { return }
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else { throw failure("cannot create the folder") }
    }

    // MARK: writing

    /// Writes an event durably and returns its item.
    public func enqueue(_ event: InstanceEvent) throws -> Item {
        try ensureDirectory()
        let body = Array((Self.encode(event).text + "\n").utf8)
        let temporary = "\(directory)/.tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("cannot create a file") }
        let written = body.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == body.count, fsync(fd) == 0 else {
            close(fd); unlink(temporary)
            throw failure("cannot write an event")
        }
        close(fd)
        // Allocate the next sequence number and move the file into place under it.
        let item: Item
        do {
            let lock = try FileLock(path: "\(directory)/.seq.lock", wait: .seconds(5))
            defer { lock.release() }
            let next = (try pending().last?.sequence ?? 0) + 1
            item = Item(sequence: next, path: "\(directory)/\(Self.name(next))")
            // link(2) rather than rename(2): it fails instead of replacing an existing event.
            guard link(temporary, item.path) == 0 else { unlink(temporary); throw failure("cannot queue an event") }
            unlink(temporary)
        }
        try syncDirectory()
        return item
    }

    private func syncDirectory() throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("cannot open the folder") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("cannot sync the folder") }
    }

    static func name(_ sequence: UInt64) -> String {
        let digits = String(sequence)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".event"
    }

    // MARK: reading

    /// The queued events, oldest first. Missing folder: none.
    public func pending() throws -> [Item] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.compactMap { name -> Item? in
            guard name.hasSuffix(".event"), name.count == 26, let sequence = UInt64(name.prefix(20)) else { return nil }
            return Item(sequence: sequence, path: "\(directory)/\(name)")
        }.sorted()
    }

    public func exists(_ item: Item) -> Bool { access(item.path, F_OK) == 0 }

    /// Reads a queued event; throws `InputError` for a file that does not decode.
    public func read(_ item: Item) throws -> InstanceEvent {
        guard let data = FileManager.default.contents(atPath: item.path) else {
            throw InputError(field: "spool", reason: "cannot read \(item.path)")
        }
        guard data.last == 0x0A, let object = (try? JSONValue.parse(data))?.object else {
            throw InputError(field: "spool", reason: "\(item.path) is cut short or damaged")
        }
        return try Self.decode(object)
    }

    public func remove(_ item: Item) { unlink(item.path) }

    /// Moves a file that must not be replayed to `failed/`, with the reason beside it.
    public func quarantine(_ item: Item, reason: String) {
        let failed = "\(directory)/failed"
        mkdir(failed, 0o700)
        let target = "\(failed)/\(item.path.split(separator: "/").last ?? "")"
        if rename(item.path, target) == 0 {
            _ = FileManager.default.createFile(atPath: target + ".reason", contents: Data((reason + "\n").utf8))
        } else {
            unlink(item.path)
        }
    }

    /// Why an event was moved to `failed/`, or nil if it was not.
    public func setAsideReason(_ item: Item) -> String? {
        let reason = "\(directory)/failed/\(item.path.split(separator: "/").last ?? "").reason"
        return FileManager.default.contents(atPath: reason).map { String(decoding: $0, as: UTF8.self).trimmed }
    }

    /// Removes temporary files older than an hour (left by a crash mid-write).
    public func removeStaleTemporaries() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let cutoff = Date().addingTimeInterval(-3600)
        for name in names where name.hasPrefix(".tmp-") {
            let path = "\(directory)/\(name)"
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
               modified < cutoff { unlink(path) }
        }
    }

    /// Notes that the directory was just found unavailable, so that processes waiting for the
    /// spool to drain give up at once instead of waiting out their budget.
    public func markUnavailable() {
        let fd = open("\(directory)/.unavailable", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
    }

    public func clearUnavailable() { unlink("\(directory)/.unavailable") }

    /// When the directory was last found unavailable (nil: not since it last worked).
    public func unavailableSince() -> Date? {
        var info = stat()
        guard stat("\(directory)/.unavailable", &info) == 0 else { return nil }
        return Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }

    /// The exclusive right to apply events (see the type's documentation).
    public func lock(wait: Duration) throws -> FileLock? {
        try ensureDirectory()
        do { return try FileLock(path: "\(directory)/.lock", wait: wait) } catch is FileLock.Busy { return nil }
    }

    // MARK: the file format: {"action": "register", "record": {...}} | {"action": "unregister", "instance_uuid": "..."}

    static func encode(_ event: InstanceEvent) -> JSONValue {
        switch event {
        case .register(let record): return .object(["version": .number(1), "action": .string("register"), "record": record.json])
        case .unregister(let uuid): return .object(["version": .number(1), "action": .string("unregister"), "instance_uuid": .string(uuid)])
        }
    }

    static func decode(_ object: [String: JSONValue]) throws -> InstanceEvent {
        switch object["action"]?.string {
        case "register":
            guard let record = object["record"]?.object else { throw InputError(field: "spool.record", reason: "missing") }
            return .register(try EventDecoder.spooledRecord(record))
        case "unregister":
            guard let uuid = object["instance_uuid"]?.string else { throw InputError(field: "spool.instance_uuid", reason: "missing") }
            return .unregister(instanceUUID: try Validate.uuid(uuid, field: "instance_uuid"))
        default:
            throw InputError(field: "spool.action", reason: "not register or unregister")
        }
    }
}

/// An flock(2) lock on a file, held until `release()` (or the process ends: a crash never
/// leaves it held).
public final class FileLock {
    struct Busy: Error {}
    private var fd: Int32

    /// Takes the lock, waiting up to `wait` (polling); throws `Busy` if it stays taken.
    init(path: String, wait: Duration) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
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

    public func release() {
        if fd >= 0 { flock(fd, LOCK_UN); close(fd); fd = -1 }
    }

    deinit { release() }
}
