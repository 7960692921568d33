import Glibc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The durable queue of events that could not be applied in time: one file per event in the
/// spool folder, named by arrival order (`00000000000000000042.event`).
///
/// - Writing: the event goes to a temporary file (`.tmp-*`), is fsync'd, linked into place
///   under its sequence number, and the folder is fsync'd; a crash at any point leaves either
///   no event or a whole one (a stray `.tmp-*` is never read, and is removed after an hour).
/// - Names are never reused while a file of that name exists anywhere in the spool, and
///   nothing is ever overwritten: numbers come from a counter (`.sequence`) that never goes
///   below the highest name in the spool or in `failed/`, allocated under `.seq.lock`; files
///   are put in place with link(2), which fails rather than replace.
/// - Order: replay is by sequence number.
/// - Exclusion: whoever applies events to the directory, from the spool or directly, holds
///   `.lock` (flock), so no event for an instance can overtake an earlier one.
/// - Trust: the folder (and `failed/`) must be a real folder, not a symbolic link, owned by
///   the user running nova-dirsvc and not writable by group or others; an event file is read
///   only if it is a regular file owned by that user and no larger than an event may be
///   (opened with O_NOFOLLOW, checked on the open descriptor). Anything else is set aside.
/// - A file that does not decode (cut short, damaged, foreign) is moved to `failed/` with a
///   `.reason` file beside it and reported, never replayed; so is an event the directory
///   refuses for good (not ours, bad data).
package struct Spool: Sendable {
    package let directory: String
    /// The highest sequence number; a name above it is not one nova-dirsvc wrote.
    static let maxSequence: UInt64 = 999_999_999_999_999_999
    /// The largest event file read (an event is at most `EventDecoder.maxInputSize` bytes).
    static let maxFileSize = EventDecoder.maxInputSize + 4096

    package init(directory: String) { self.directory = directory }

    /// A queued event's file.
    package struct Item: Hashable, Sendable, Comparable {
        package let sequence: UInt64
        package let path: String
        package var name: String { Spool.name(sequence) }
        package static func < (a: Item, b: Item) -> Bool { a.sequence < b.sequence }
    }

    /// Why a spool operation failed (the caller exits 69 when the event could not be kept).
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    func failure(_ what: String) -> Failure {
        Failure(description: "spool \(directory): \(what): \(POSIX.errorText)")
    }

    var failedDirectory: String { "\(directory)/failed" }

    /// Creates the folder if missing, and refuses one that others could tamper with.
    func checkedDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw failure("cannot create the folder \(path)") }
        var info = stat()
        guard lstat(path, &info) == 0 else { throw failure("cannot examine \(path)") }
        let kind = info.st_mode & S_IFMT
        // an unsafe folder is the operator's setup to fix (64), not a passing failure
        guard kind == S_IFDIR else {
            throw ConfigurationError(
                "spool \(directory): \(path) is \(kind == S_IFLNK ? "a symbolic link" : "not a folder"): refusing to use it")
        }
        guard info.st_uid == geteuid() else {
            throw ConfigurationError(
                "spool \(directory): \(path) is owned by uid \(info.st_uid), not by the user running nova-dirsvc (uid \(geteuid())): refusing to use it"
            )
        }
        guard info.st_mode & 0o022 == 0 else {
            throw ConfigurationError(
                "spool \(directory): \(path) is writable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))): refusing to use it; chmod go-w it"
            )
        }
    }

    // MARK: writing

    /// Writes an event durably into the queue and returns its item.
    /// `time`: the event's by Nova's clock, kept so that it is applied in order when drained.
    package func enqueue(_ event: InstanceEvent, time: EventTime? = nil) throws -> Item {
        try checkedDirectory(directory)
        let temporary = try writeTemporary(Array((Self.encode(event, time: time).text + "\n").utf8))
        let item: Item
        do {
            let lock = try FileLock(path: "\(directory)/.seq.lock", wait: .seconds(5))
            defer { lock.release() }
            // link(2) rather than rename(2): it fails instead of replacing an existing event.
            let sequence = try linkUnique(temporary, in: directory)
            item = Item(sequence: sequence, path: "\(directory)/\(Self.name(sequence))")
            unlink(temporary)
        }
        try syncDirectory(directory)
        return item
    }

    /// Keeps an event the directory refused for good in `failed/`, with the reason beside
    /// it, without ever queueing it; returns its path.
    @discardableResult
    package func setAside(_ event: InstanceEvent, reason: String) throws -> String {
        try setAside(bytes: Array((Self.encode(event).text + "\n").utf8), reason: reason)
    }

    /// Keeps a message that could not be decoded in `failed/` byte for byte (so that it can be
    /// looked at, or given to `nova-dirsvc apply --event` once fixed), with the reason beside it.
    @discardableResult
    package func setAside(message: [UInt8], reason: String) throws -> String {
        try setAside(bytes: message, reason: reason)
    }

    private func setAside(bytes: [UInt8], reason: String) throws -> String {
        try checkedDirectory(directory)
        try checkedDirectory(failedDirectory)
        let temporary = try writeTemporary(bytes)
        let lock = try FileLock(path: "\(directory)/.seq.lock", wait: .seconds(5))
        defer { lock.release() }
        let path = "\(failedDirectory)/\(Self.name(try linkUnique(temporary, in: failedDirectory)))"
        unlink(temporary)
        writeReason(for: path, reason)
        try syncDirectory(failedDirectory)
        return path
    }

    private func writeTemporary(_ body: [UInt8]) throws -> String {
        let temporary = "\(directory)/.tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("cannot create a file") }
        let written = body.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == body.count, fsync(fd) == 0 else {
            close(fd)
            unlink(temporary)
            throw failure("cannot write an event")
        }
        close(fd)
        return temporary
    }

    /// The next sequence number (call with `.seq.lock` held): above the counter and above
    /// every name in the spool. failed/ is looked through only when the counter is missing or
    /// unreadable (it may hold tens of thousands of files: reading it for every event made every
    /// write slow); a name taken there anyway is passed over by the caller (`linkUnique`). A
    /// name far above the counter (one nova-dirsvc did not give, e.g. the largest there is) does
    /// not move the numbering: it would use the numbers up.
    private func nextSequence() throws -> UInt64 {
        let counterPath = "\(directory)/.sequence"
        var counter: UInt64?
        if let data = POSIX.read(path: counterPath, limit: 64, followSymlinks: false),
            let stored = UInt64(String(decoding: data.filter { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self)),
            stored <= Self.maxSequence
        {
            counter = stored
        }
        var highest = counter ?? 0
        for folder in counter == nil ? [directory, failedDirectory] : [directory] {
            for name in POSIX.names(in: folder) {
                guard let sequence = Self.sequence(ofName: name) else { continue }
                if let counter, sequence > counter + Self.foreignGap { continue }
                highest = max(highest, sequence)
            }
        }
        guard highest < Self.maxSequence else {
            throw Failure(description: "spool \(directory): the sequence numbers are used up (\(Self.maxSequence))")
        }
        let next = highest + 1
        let fd = open(counterPath, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 {
            let text = Array("\(next)\n".utf8)
            _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        return next
    }

    /// How far above the counter a name may be and still count as one nova-dirsvc gave.
    static let foreignGap: UInt64 = 1_000_000_000_000

    /// Links `temporary` at the next free sequence in `folder` (call with `.seq.lock` held);
    /// returns the sequence. A name already taken (failed/ is not looked through each time) is
    /// passed over.
    private func linkUnique(_ temporary: String, in folder: String) throws -> UInt64 {
        for _ in 0..<1000 {
            let sequence = try nextSequence()
            if link(temporary, "\(folder)/\(Self.name(sequence))") == 0 { return sequence }
            guard errno == EEXIST else { break }
        }
        unlink(temporary)
        throw failure(folder == directory ? "cannot queue an event" : "cannot keep a refused event")
    }

    private func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw failure("cannot open the folder") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("cannot sync the folder") }
    }

    static func name(_ sequence: UInt64) -> String {
        let digits = String(sequence)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".event"
    }

    /// The sequence number of a name nova-dirsvc writes (`failed/` names may carry a `.N`
    /// suffix after `.event`), or nil for any other name.
    static func sequence(ofName name: String) -> UInt64? {
        let bytes = Array(name.utf8)
        guard bytes.count >= 26, bytes[0..<20].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            String(decoding: bytes[20..<26], as: UTF8.self) == ".event",
            let sequence = UInt64(String(decoding: bytes[0..<20], as: UTF8.self)), sequence <= maxSequence,
            bytes.count == 26 || bytes[26] == UInt8(ascii: ".")
        else { return nil }
        return sequence
    }

    // MARK: the file format: {"version": 1, "action": "register" | "update", "record": {...}} | {"version": 1, "action": "unregister", "instance_uuid": "..."},
    // with "time": "YYYYMMDDHHMMSS.ffffffZ" (Nova's clock) when the event had one

    static func encode(_ event: InstanceEvent, time: EventTime? = nil) -> JSONValue {
        var object: [String: JSONValue]
        switch event {
        case .register(let record): object = ["version": .number(1), "action": .string("register"), "record": record.json]
        case .unregister(let uuid): object = ["version": .number(1), "action": .string("unregister"), "instance_uuid": .string(uuid)]
        case .update(let record): object = ["version": .number(1), "action": .string("update"), "record": record.json]
        }
        if let time { object["time"] = .string(time.generalized) }  // optional: older files have none
        return .object(object)
    }

    /// A spooled event's time (nil: none, or not one this tool writes).
    static func eventTime(_ object: [String: JSONValue]) -> EventTime? {
        object["time"]?.string.flatMap(EventTime.init(generalized:))
    }

    static func decode(_ object: [String: JSONValue]) throws -> InstanceEvent {
        switch object["action"]?.string {
        case "register", "update":
            guard let record = object["record"]?.object else { throw InputError(field: "spool.record", reason: "missing") }
            let decoded = try EventDecoder.spooledRecord(record)
            return object["action"]?.string == "update" ? .update(decoded) : .register(decoded)
        case "unregister":
            guard let uuid = object["instance_uuid"]?.string else { throw InputError(field: "spool.instance_uuid", reason: "missing") }
            return .unregister(instanceUUID: try Validate.uuid(uuid, field: "instance_uuid"))
        default:
            throw InputError(field: "spool.action", reason: "not register, unregister or update")
        }
    }
}
