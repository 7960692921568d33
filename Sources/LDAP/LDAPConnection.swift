import CLDAP
import Dispatch
import Glibc

/// One connection to a directory server over libldap: an explicit lifetime (`close()`, or
/// deinit), one LDAP handle, synchronous calls with timeouts, and `perform` for many
/// outstanding requests at once.
///
/// Time: each request waits at most `Configuration.operationTimeout`, and never past the
/// connection's `deadline` (a time budget for a whole command), which every blocking call
/// honours: connecting, the TLS handshake, StartTLS, bind, sends and answers. libldap has no
/// deadline of its own for a TLS handshake, so a watchdog shuts the socket down when the
/// deadline passes during a call (see `cldap_socket_watch` in shim.h).
///
/// Not thread-safe: use one connection from one task or thread at a time.
///
/// The process should ignore SIGPIPE (`signal(SIGPIPE, SIG_IGN)`, as the nova-dirsvc
/// executable does): libldap writes to its socket with write(2), and a server that dies
/// mid-request would otherwise kill the process instead of failing the operation.
package final class LDAPConnection {
    var ld: OpaquePointer?
    package let configuration: Configuration
    /// No blocking call waits past this instant (nil: only the per-request timeouts apply).
    package private(set) var deadline: ContinuousClock.Instant?
    /// The socket libldap connected, for the watchdog (lives as long as the handle).
    private let socketWatch: UnsafeMutablePointer<cldap_socket_watch>

    /// Creates the handle and sets its options. Does not touch the network: the first
    /// operation (usually `bind`) connects. Use `LDAPConnection.connect` for the usual path.
    package init(_ configuration: Configuration, deadline: ContinuousClock.Instant? = nil) throws {
        self.configuration = configuration
        self.deadline = deadline
        socketWatch = .allocate(capacity: 1)
        socketWatch.initialize(to: cldap_socket_watch())
        var handle: OpaquePointer? = nil
        let uriList: String? = configuration.uris.isEmpty ? nil : configuration.uris.joined(separator: " ")
        let rc = ldap_initialize(&handle, uriList)
        guard rc == LDAP_SUCCESS, let handle else {
            // (deinit runs for a class whose init throws once every property is set: it
            // frees socketWatch; freeing it here too was a double free, found by a test)
            throw LDAPError(
                code: .init(rc), operation: "initialize",
                diagnosticMessage: "bad URI list \(uriList ?? "(ldap.conf default)"): "
                    + String(cString: ldap_err2string(rc)))
        }
        ld = handle
        try check(cldap_socket_watch_install(handle, socketWatch), "set connection callbacks")
        try setOption(LDAP_OPT_PROTOCOL_VERSION, LDAP_VERSION3)
        try check(ldap_set_option(handle, LDAP_OPT_REFERRALS, cldap_opt_off()), "set option")
        try setOption(LDAP_OPT_NETWORK_TIMEOUT, Self.timeval(try wait(configuration.networkTimeout, "connect")))
        try setOption(LDAP_OPT_TIMEOUT, Self.timeval(configuration.operationTimeout))
        if configuration.usesTLS {
            // A new TLS context is built from this handle's own options, which do not carry
            // the CA settings of ldap.conf (TLS_CACERT, TLS_CACERTDIR): copy those over when
            // no CA file is given, or verification would fail against every server.
            if let file = configuration.caCertificateFile ?? LDAPDefaults.string(LDAP_OPT_X_TLS_CACERTFILE) {
                try check(ldap_set_option(handle, LDAP_OPT_X_TLS_CACERTFILE, file), "set TLS CA certificate file")
            }
            if configuration.caCertificateFile == nil, let directory = LDAPDefaults.string(LDAP_OPT_X_TLS_CACERTDIR) {
                try check(ldap_set_option(handle, LDAP_OPT_X_TLS_CACERTDIR, directory), "set TLS CA certificate folder")
            }
            try setOption(
                LDAP_OPT_X_TLS_REQUIRE_CERT,
                configuration.certificateVerification == .demand ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER)
            // The TLS options above only take effect in a new TLS context for this handle.
            // (Only made when TLS will be used: loading the CA store costs milliseconds.)
            try setOption(LDAP_OPT_X_TLS_NEWCTX, Int32(0))
        }
    }

    /// Connects (and for ldaps:// completes the TLS handshake), issues StartTLS if configured,
    /// and binds, all before `deadline`. The connection then has no deadline of its own: give
    /// each later piece of work one with `withDeadline`.
    package static func connect(
        _ configuration: Configuration, credentials: Credentials,
        deadline: ContinuousClock.Instant? = nil
    ) throws -> LDAPConnection {
        let connection = try LDAPConnection(configuration, deadline: deadline)
        try connection.open()
        if configuration.startTLS { try connection.startTLS() }
        try connection.bind(credentials)
        connection.deadline = nil
        return connection
    }

    deinit {
        close()
        socketWatch.deallocate()
    }

    /// Unbinds and frees the handle. Safe to call more than once.
    package func close() {
        if let ld { ldap_unbind_ext(ld, nil, nil) }
        ld = nil
    }

    /// Runs `body` with `deadline` as this connection's deadline, then restores the previous
    /// one (a resident service holds one connection and gives each batch its own budget).
    package func withDeadline<T>(_ deadline: ContinuousClock.Instant?, _ body: () throws -> T) rethrows -> T {
        let previous = self.deadline
        self.deadline = deadline
        defer { self.deadline = previous }
        return try body()
    }

    func handle(_ operation: String) throws -> OpaquePointer {
        guard let ld else { throw LDAPError(code: .serverDown, operation: operation, diagnosticMessage: "connection closed") }
        return ld
    }

    // MARK: - Time

    /// How long a wait of at most `limit` may last before the deadline; throws a timeout when
    /// the deadline has passed.
    func wait(_ limit: Duration, _ operation: String, dn: String? = nil) throws -> Duration {
        guard let deadline else { return limit }
        let left = deadline - .now
        guard left > .milliseconds(1) else { throw budgetExhausted(operation, dn: dn) }
        return min(limit, left)
    }

    private func budgetExhausted(_ operation: String, dn: String?) -> LDAPError {
        LDAPError(code: .timeout, operation: operation, dn: dn, diagnosticMessage: "the time budget ran out")
    }

    /// Runs a blocking libldap call under the watchdog: if the deadline passes while it runs,
    /// the socket is shut down, the call fails, and the failure is reported as a timeout.
    func guarded<T>(_ operation: String, dn: String? = nil, _ body: () throws -> T) throws -> T {
        guard let deadline else { return try body() }
        _ = try wait(configuration.operationTimeout, operation, dn: dn)
        let watch = UncheckedSendable(socketWatch)
        let timer = DispatchWorkItem { cldap_socket_watch_trip(watch.value) }
        let left = deadline - .now
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(left.nanoseconds)), execute: timer)
        defer { timer.cancel() }
        do {
            return try body()
        } catch let error as LDAPError where ContinuousClock.now >= deadline && error.code != .timeout {
            throw LDAPError(
                code: .timeout, operation: operation, dn: dn,
                diagnosticMessage: "the time budget ran out (\(error.code))")
        }
    }

    // MARK: - Session

    /// Opens the network connection now (libldap otherwise connects on the first request),
    /// so that an unreachable server fails here even when no bind follows.
    package func open() throws {
        let ld = try handle("connect")
        try guarded("connect") {
            let rc = withBlockingHandshake { TLSDiagnostics.capturing(configuration.usesTLS) { ldap_connect(ld) } }
            if rc != LDAP_SUCCESS { throw error(rc, "connect") }
        }
    }

    /// Runs `body` (a connect or StartTLS) with libldap's TLS handshake blocking instead of
    /// spinning (see cldap_socket_watch in the shim): only while `guarded`'s watchdog is armed,
    /// which shuts a stalled handshake down at the deadline. The network timeout is set again
    /// afterwards, for libldap's later connects. Only with one URI: with several (ldap.conf's),
    /// libldap would connect to the next after a failed handshake without a network timeout.
    private func withBlockingHandshake<T>(_ body: () throws -> T) rethrows -> T {
        guard deadline != nil, configuration.uris.count == 1, let ld else { return try body() }
        socketWatch.pointee.blocking_handshake = 1
        defer {
            socketWatch.pointee.blocking_handshake = 0
            _ = try? setOption(LDAP_OPT_NETWORK_TIMEOUT, Self.timeval(configuration.networkTimeout))
        }
        if socketWatch.pointee.fd >= 0 { cldap_network_timeout_off(ld) }  // connected already: StartTLS
        return try body()
    }

    /// StartTLS (RFC 4511 extended operation), verifying the certificate as configured.
    package func startTLS() throws {
        let ld = try handle("StartTLS")
        try guarded("StartTLS") {
            try setOption(LDAP_OPT_TIMEOUT, Self.timeval(try wait(configuration.operationTimeout, "StartTLS")))
            let rc = withBlockingHandshake { TLSDiagnostics.capturing(true) { ldap_start_tls_s(ld, nil, nil) } }
            if rc != LDAP_SUCCESS { throw error(rc, "StartTLS") }
        }
    }

    /// Binds with the given credentials.
    package func bind(_ credentials: Credentials) throws {
        let ld = try handle("bind")
        try guarded("bind") {
            try setOption(LDAP_OPT_TIMEOUT, Self.timeval(try wait(configuration.operationTimeout, "bind")))
            switch credentials {
            case .anonymous:
                return
            case .simple(let dn, let password):
                var bytes = Array(password.value.utf8)
                defer { for i in bytes.indices { bytes[i] = 0 } }  // don't leave the copy around
                let rc = bytes.withUnsafeMutableBufferPointer { buffer -> Int32 in
                    buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(buffer.count, 1)) { chars in
                        var credential = berval(bv_len: ber_len_t(buffer.count), bv_val: buffer.count == 0 ? nil : chars)
                        return ldap_sasl_bind_s(ld, dn, cldap_sasl_simple(), &credential, nil, nil, nil)
                    }
                }
                if rc != LDAP_SUCCESS { throw error(rc, "bind", dn: dn) }
            case .sasl(let mechanism, let authorizationID):
                var minimum = ber_len_t(max(0, configuration.saslMinimumSSF))
                try check(ldap_set_option(ld, LDAP_OPT_X_SASL_SSF_MIN, &minimum), "set the SASL minimum strength")
                let rc: Int32 = withOptionalCString(authorizationID) { authzid in
                    ldap_sasl_interactive_bind_s(
                        ld, nil, mechanism, nil, nil, LDAP_SASL_QUIET,
                        cldap_sasl_interact, UnsafeMutableRawPointer(mutating: authzid))
                }
                if rc != LDAP_SUCCESS {
                    let failure = error(rc, "SASL \(mechanism) bind")
                    // the client could not even make its credentials: never "the directory is down"
                    if SASLClientError.codes.contains(failure.code) {
                        throw SASLClientError(mechanism: mechanism, error: failure, minimumSSF: configuration.saslMinimumSSF)
                    }
                    throw failure
                }
            }
        }
    }

    /// The authorization identity of this connection (RFC 4532 "Who am I?"), e.g. `dn:cn=...`.
    package func whoAmI() throws -> String {
        let ld = try handle("whoami")
        return try guarded("whoami") {
            var authzid: UnsafeMutablePointer<berval>? = nil
            let rc = ldap_whoami_s(ld, &authzid, nil, nil)
            defer { if let authzid { ber_bvfree(authzid) } }
            if rc != LDAP_SUCCESS { throw error(rc, "whoami") }
            guard let bv = authzid?.pointee, let value = bv.bv_val else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: value, count: Int(bv.bv_len)), as: UTF8.self)
        }
    }

    static func timeval(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}

/// A value the compiler cannot prove Sendable, handed to one timer closure whose use is safe
/// by construction (an atomic load and shutdown(2) in C).
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString(body)
}

extension Duration {
    /// Whole nanoseconds (saturating).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole + attoseconds / 1_000_000_000
    }

    /// Seconds with up to three decimals, for messages ("2.5").
    var secondsText: String {
        let milliseconds = nanoseconds / 1_000_000
        let fraction = milliseconds % 1000
        if fraction == 0 { return "\(milliseconds / 1000)" }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(milliseconds / 1000).\(digits)"
    }
}
