import Glibc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What the nova-dirsvc processes of this machine know about the configured servers: which
/// failed and when, and which one the last failover went to. Kept beside the spool
/// (`SPOOL/.servers`, JSON), shared by every process, rewritten whole (temporary file, rename):
/// a hint, so a lost update costs at most one more try of a server.
///
/// The rules (`order`):
/// - a server that failed (no connection, no answer) is passed over for `backoff` after its
///   last failure, then tried again; unless every server is passed over, then all are tried;
/// - after a failover, the server that answered stays first until it fails, or until the
///   servers before it have gone `settle` without a failure (replication has caught up): failing
///   back at once would write to a supplier that has not yet received what was written on the
///   other one (an unregister would find nothing, a register would make a replication conflict).
package struct ServerHealth {
    let path: String
    let backoff: Duration
    let settle: Duration

    struct State: Equatable {
        /// When each server last failed (seconds since the epoch).
        var failed: [String: Double] = [:]
        /// The server the last failover went to, while it is preferred.
        var preferred: String?
    }

    init(spoolDirectory: String, backoff: Duration, settle: Duration) {
        path = "\(spoolDirectory)/.servers"
        self.backoff = backoff
        self.settle = settle
    }

    /// The wall clock, in seconds since the epoch (what the health file and leases record).
    package static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    func load() -> State {
        guard let data = POSIX.read(path: path, limit: 65536, followSymlinks: false),
            let object = (try? JSONValue.parse(data))?.object
        else { return State() }
        var state = State()
        if case .object(let failed)? = object["failed"] {
            for (uri, value) in failed { if case .number(let time) = value { state.failed[uri] = time } }
        }
        state.preferred = object["preferred"]?.string
        return state
    }

    func save(_ state: State) {
        var failed: [String: JSONValue] = [:]
        for (uri, time) in state.failed { failed[uri] = .number(time) }
        var object: [String: JSONValue] = ["failed": .object(failed)]
        if let preferred = state.preferred { object["preferred"] = .string(preferred) }
        let bytes = Array((JSONValue.object(object).text + "\n").utf8)
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        if written == bytes.count { rename(temporary, path) } else { unlink(temporary) }
    }

    /// The order to try `uris` in, and the ones passed over with why.
    func order(_ uris: [String], state: State, now: Double) -> (order: [String], passedOver: [String]) {
        var list = uris
        if let preferred = state.preferred, let index = list.firstIndex(of: preferred), index > 0 {
            let before = list[..<index]
            let lastFailure = before.compactMap { state.failed[$0] }.max() ?? 0
            if now - lastFailure < seconds(settle) {
                list.remove(at: index)
                list.insert(preferred, at: 0)
            }
        }
        var order: [String] = []
        var passedOver: [String] = []
        for uri in list {
            if let failedAt = state.failed[uri], now - failedAt < seconds(backoff) {
                passedOver.append("\(uri): failed \(Int(now - failedAt)) s ago, passed over for \(Int(seconds(backoff))) s")
            } else {
                order.append(uri)
            }
        }
        if order.isEmpty { return (list, []) }  // everything failed lately: try them all anyway
        return (order, passedOver)
    }

    /// Records an attempt: the servers that failed, and the one that answered (nil: none).
    func record(failed: [String], answered: String?, configured: [String], now: Double) {
        var state = load()
        let before = state
        for uri in failed { state.failed[uri] = now }
        if let answered {
            state.failed[answered] = nil
            // failed over: stay on it; answered by the first configured server: failed back
            state.preferred = answered == configured.first ? nil : answered
        }
        if state != before { save(state) }
    }

    /// Whether a server failed within the settle time, or a failover is still in force: then
    /// "absent" on one supplier may only mean it has not heard of the entry yet.
    func failedOverRecently(_ state: State, now: Double) -> Bool {
        state.preferred != nil || state.failed.values.contains { now - $0 < seconds(settle) }
    }

    private func seconds(_ duration: Duration) -> Double {
        let (s, atto) = duration.components
        return Double(s) + Double(atto) / 1e18
    }
}
