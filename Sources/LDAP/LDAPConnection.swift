import CLDAP
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where and how to connect.
public struct ConnectionConfiguration: Sendable {
    /// ldap://, ldaps:// or ldapi:// URIs, tried in order by libldap when connecting.
    /// Empty: libldap's default (URI in ldap.conf / LDAPURI).
    public var uris: [String]
    /// Seconds to wait for a TCP connection to be established (per URI).
    public var networkTimeout: Double
    /// Seconds to wait for the answer to any one request (bind, StartTLS, each search message).
    public var operationTimeout: Double
    /// Issue StartTLS (RFC 4513) after connecting over ldap://; failure is an error, never a
    /// fallback to plaintext.
    public var startTLS: Bool
    /// PEM file with the CA certificate(s) to trust. nil: libldap's default (TLS_CACERT in
    /// ldap.conf, LDAPTLS_CACERT).
    public var caCertificateFile: String?
    /// Certificate verification; `.demand` unless the operator explicitly turned it off.
    public var certificateVerification: CertificateVerification

    public init(uris: [String], networkTimeout: Double = 5, operationTimeout: Double = 10,
                startTLS: Bool = false, caCertificateFile: String? = nil,
                certificateVerification: CertificateVerification = .demand) {
        self.uris = uris
        self.networkTimeout = networkTimeout
        self.operationTimeout = operationTimeout
        self.startTLS = startTLS
        self.caCertificateFile = caCertificateFile
        self.certificateVerification = certificateVerification
    }

    /// Whether any connection made with this configuration can use TLS (ldaps:// or StartTLS).
    /// libldap's defaults (REQUIRE_CERT demand, ldap.conf's TLS_CACERT) apply otherwise too.
    var usesTLS: Bool {
        startTLS || caCertificateFile != nil || certificateVerification == .never
            || uris.isEmpty || uris.contains { $0.lowercased().hasPrefix("ldaps://") }
    }
}

// libldap's message tags and scopes are macros with casts, which Swift does not import.
private let resultTagSearchEntry: Int32 = 0x64      // LDAP_RES_SEARCH_ENTRY
private let resultTagSearchReference: Int32 = 0x73  // LDAP_RES_SEARCH_REFERENCE
private let resultTagSearchResult: Int32 = 0x65     // LDAP_RES_SEARCH_RESULT

/// One connection to a directory server over libldap: an explicit lifetime (`close()`, or
/// deinit), one LDAP handle, synchronous calls with timeouts, and `perform` for many
/// outstanding requests at once.
///
/// Not thread-safe: use one connection from one task or thread at a time.
///
/// The process should ignore SIGPIPE (`signal(SIGPIPE, SIG_IGN)`, as the nova-dirsvc
/// executable does): libldap writes to its socket with write(2), and a server that dies
/// mid-request would otherwise kill the process instead of failing the operation.
public final class LDAPConnection {
    private var ld: OpaquePointer?
    public let configuration: ConnectionConfiguration
    /// When set, no wait for an answer goes past this instant (a time budget for a whole
    /// command, on top of the per-request operation timeout).
    public var deadline: ContinuousClock.Instant?

    /// Creates the handle and sets its options. Does not touch the network: the first
    /// operation (usually `bind`) connects. Use `LDAPConnection.connect` for the usual path.
    public init(_ configuration: ConnectionConfiguration) throws {
        self.configuration = configuration
        var handle: OpaquePointer? = nil
        let uriList: String? = configuration.uris.isEmpty ? nil : configuration.uris.joined(separator: " ")
        let rc = ldap_initialize(&handle, uriList)
        guard rc == LDAP_SUCCESS, let handle else {
            throw LDAPError(code: .init(rc), operation: "initialize",
                            diagnosticMessage: "bad URI list \(uriList ?? "(ldap.conf default)"): "
                                + String(cString: ldap_err2string(rc)))
        }
        ld = handle
        try setOption(LDAP_OPT_PROTOCOL_VERSION, LDAP_VERSION3)
        try check(ldap_set_option(handle, LDAP_OPT_REFERRALS, cldap_opt_off()), "set option")
        try setOption(LDAP_OPT_NETWORK_TIMEOUT, Self.timeval(configuration.networkTimeout))
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
            try setOption(LDAP_OPT_X_TLS_REQUIRE_CERT,
                          configuration.certificateVerification == .demand ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER)
            // The TLS options above only take effect in a new TLS context for this handle.
            // (Only made when TLS will be used: loading the CA store costs milliseconds.)
            try setOption(LDAP_OPT_X_TLS_NEWCTX, Int32(0))
        }
    }

    /// Connects, issues StartTLS if configured, and binds.
    public static func connect(_ configuration: ConnectionConfiguration,
                               credentials: Credentials) throws -> LDAPConnection {
        let connection = try LDAPConnection(configuration)
        if configuration.startTLS { try connection.startTLS() }
        try connection.bind(credentials)
        return connection
    }

    deinit { close() }

    /// Unbinds and frees the handle. Safe to call more than once.
    public func close() {
        if let ld { ldap_unbind_ext(ld, nil, nil) }
        ld = nil
    }

    private func handle(_ operation: String) throws -> OpaquePointer {
        guard let ld else { throw LDAPError(code: .serverDown, operation: operation, diagnosticMessage: "connection closed") }
        return ld
    }

    // MARK: - Session

    /// StartTLS (RFC 4511 extended operation), verifying the certificate as configured.
    public func startTLS() throws {
        let ld = try handle("StartTLS")
        let rc = ldap_start_tls_s(ld, nil, nil)
        if rc != LDAP_SUCCESS { throw error(rc, "StartTLS") }
    }

    /// Binds with the given credentials.
    public func bind(_ credentials: Credentials) throws {
        let ld = try handle("bind")
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
            let rc: Int32 = withOptionalCString(authorizationID) { authzid in
                ldap_sasl_interactive_bind_s(ld, nil, mechanism, nil, nil, LDAP_SASL_QUIET,
                                             cldap_sasl_interact, UnsafeMutableRawPointer(mutating: authzid))
            }
            if rc != LDAP_SUCCESS { throw error(rc, "SASL \(mechanism) bind") }
        }
    }

    /// The authorization identity of this connection (RFC 4532 "Who am I?"), e.g. `dn:cn=...`.
    public func whoAmI() throws -> String {
        let ld = try handle("whoami")
        var authzid: UnsafeMutablePointer<berval>? = nil
        let rc = ldap_whoami_s(ld, &authzid, nil, nil)
        defer { if let authzid { ber_bvfree(authzid) } }
        if rc != LDAP_SUCCESS { throw error(rc, "whoami") }
        guard let bv = authzid?.pointee, let value = bv.bv_val else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: value, count: Int(bv.bv_len)), as: UTF8.self)
    }

    // MARK: - Writes

    /// Adds an entry.
    public func add(_ dn: DistinguishedName, _ attributes: [Attribute]) throws {
        try perform([.add(dn, attributes)], window: 1) { _, error in if let error { throw error } }
    }

    /// Modifies an entry.
    public func modify(_ dn: DistinguishedName, _ modifications: [Modification]) throws {
        try perform([.modify(dn, modifications)], window: 1) { _, error in if let error { throw error } }
    }

    /// Deletes an entry.
    public func delete(_ dn: DistinguishedName) throws {
        try perform([.delete(dn)], window: 1) { _, error in if let error { throw error } }
    }

    /// Sends `operations` with up to `window` requests outstanding on this connection at once
    /// (ldap_add_ext / ldap_modify_ext / ldap_delete_ext, then ldap_result for any message id),
    /// and calls `completion(index, error)` once per operation as its result arrives (in the
    /// order results arrive, which may differ from the order sent; `index` is the operation's
    /// position in `operations`). A server refusal of one operation is passed to `completion`
    /// and does not stop the others; if `completion` throws, the outstanding requests are
    /// abandoned and the error rethrown. A lost connection or a timeout throws.
    ///
    /// A server may process outstanding requests in any order (389-ds does, on several
    /// threads), so two operations on the same DN are never outstanding together: the second
    /// is sent only after the first one's result arrived. Per entry, the order of `operations`
    /// is the order applied.
    public func perform<Operations: Sequence<WriteOperation>>(
        _ operations: Operations, window: Int = 64,
        completion: (_ index: Int, _ error: LDAPError?) throws -> Void
    ) throws {
        let ld = try handle("write")
        precondition(window >= 1)
        var outstanding: [Int32: (index: Int, operation: WriteOperation)] = [:]
        var outstandingDNs: [String: Int] = [:]  // lowercased DN -> requests in flight (0 or 1)
        var iterator = operations.makeIterator()
        var next: WriteOperation? = iterator.next()
        var nextIndex = 0
        defer { for msgid in outstanding.keys { ldap_abandon_ext(ld, msgid, nil, nil) } }

        while true {
            while let operation = next, outstanding.count < window,
                  outstandingDNs[operation.dn.string.lowercased(), default: 0] == 0 {
                let msgid = try send(operation, on: ld)
                outstanding[msgid] = (nextIndex, operation)
                outstandingDNs[operation.dn.string.lowercased(), default: 0] += 1
                nextIndex += 1
                next = iterator.next()
            }
            if outstanding.isEmpty { return }
            let message = try awaitMessage(ld, msgid: LDAP_RES_ANY, all: true, operation: "write")
            let msgid = ldap_msgid(message)
            guard let (index, operation) = outstanding.removeValue(forKey: msgid) else {
                ldap_msgfree(message)  // a message for nothing we sent (e.g. an abandoned request)
                continue
            }
            outstandingDNs[operation.dn.string.lowercased(), default: 1] -= 1
            let result = parseResult(ld, message, operation: operation.name, dn: operation.dn.string)
            try completion(index, result.error)
        }
    }

    private func send(_ operation: WriteOperation, on ld: OpaquePointer) throws -> Int32 {
        var msgid: Int32 = 0
        let arena = CArena()
        let rc: Int32
        switch operation {
        case .add(let dn, let attributes):
            let mods = arena.modifications(attributes.map { (LDAP_MOD_ADD, $0.name, $0.values) })
            rc = ldap_add_ext(ld, dn.string, mods, nil, nil, &msgid)
        case .modify(let dn, let modifications):
            let mods = arena.modifications(modifications.map { modification in
                let op: Int32 = switch modification.kind {
                case .add: LDAP_MOD_ADD
                case .delete: LDAP_MOD_DELETE
                case .replace: LDAP_MOD_REPLACE
                }
                return (op, modification.attribute, modification.values)
            })
            rc = ldap_modify_ext(ld, dn.string, mods, nil, nil, &msgid)
        case .delete(let dn):
            rc = ldap_delete_ext(ld, dn.string, nil, nil, &msgid)
        }
        // libldap has BER-encoded the request by now: the arena may go.
        if rc != LDAP_SUCCESS { throw error(rc, operation.name, dn: operation.dn.string) }
        return msgid
    }

    // MARK: - Search

    /// Searches with the simple paged results control (RFC 2696), `pageSize` entries a page,
    /// and calls `body` with each entry as it arrives, so a search returns every matching
    /// entry even where the server's size limit is lower, and memory holds one page at most.
    /// If `body` throws, the search is abandoned and the error rethrown.
    public func search(base: DistinguishedName, scope: SearchScope = .subtree, filter: Filter,
                       attributes: [String] = [], pageSize: Int = 1000,
                       _ body: (Entry) throws -> Void) throws {
        let ld = try handle("search")
        let arena = CArena()
        let attrs: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? =
            attributes.isEmpty ? nil : arena.stringArray(attributes)
        let scopeValue: Int32 = switch scope {
        case .base: 0      // LDAP_SCOPE_BASE
        case .oneLevel: 1  // LDAP_SCOPE_ONELEVEL
        case .subtree: 2   // LDAP_SCOPE_SUBTREE
        }
        let filterString = filter.description
        var cookie: [UInt8] = []
        repeat {
            var control: UnsafeMutablePointer<LDAPControl>? = nil
            var rc: Int32 = cookie.withUnsafeMutableBytes { bytes in
                var cookieValue = berval(bv_len: ber_len_t(bytes.count),
                                         bv_val: bytes.baseAddress?.assumingMemoryBound(to: CChar.self))
                // critical: a server without paging fails the search instead of truncating it
                if bytes.isEmpty { return ldap_create_page_control(ld, ber_int_t(pageSize), nil, 1, &control) }
                return ldap_create_page_control(ld, ber_int_t(pageSize), &cookieValue, 1, &control)
            }
            if rc != LDAP_SUCCESS { throw error(rc, "search", dn: base.string) }
            var serverControls: [UnsafeMutablePointer<LDAPControl>?] = [control, nil]
            var msgid: Int32 = 0
            rc = serverControls.withUnsafeMutableBufferPointer { controls in
                ldap_search_ext(ld, base.string, scopeValue, filterString, attrs, 0,
                                controls.baseAddress, nil, nil, LDAP_NO_LIMIT, &msgid)
            }
            ldap_control_free(control)
            if rc != LDAP_SUCCESS { throw error(rc, "search", dn: base.string) }

            var done = false
            do {
                while !done {
                    let message = try awaitMessage(ld, msgid: msgid, all: false, operation: "search", dn: base.string)
                    switch ldap_msgtype(message) {
                    case resultTagSearchEntry:
                        let entry = parseEntry(ld, message)
                        ldap_msgfree(message)
                        try body(entry)
                    case resultTagSearchResult:
                        done = true
                        cookie = try parseSearchResult(ld, message, base: base.string)
                    default:  // search references (referrals are not chased) and anything else
                        ldap_msgfree(message)
                    }
                }
            } catch {
                if !done { ldap_abandon_ext(ld, msgid, nil, nil) }
                throw error
            }
        } while !cookie.isEmpty
    }

    /// Searches and returns every entry (paged, as `search(base:scope:filter:attributes:pageSize:_:)`).
    public func search(base: DistinguishedName, scope: SearchScope = .subtree, filter: Filter,
                       attributes: [String] = [], pageSize: Int = 1000) throws -> [Entry] {
        var entries: [Entry] = []
        try search(base: base, scope: scope, filter: filter, attributes: attributes, pageSize: pageSize) {
            entries.append($0)
        }
        return entries
    }

    /// Reads one entry by DN, or nil when there is none (or it does not match `filter`).
    public func read(_ dn: DistinguishedName, filter: Filter = .present("objectClass"),
                     attributes: [String] = []) throws -> Entry? {
        do {
            return try search(base: dn, scope: .base, filter: filter, attributes: attributes).first
        } catch LDAPResultCode.noSuchObject {
            return nil
        }
    }

    // MARK: - Results

    /// Waits (up to the operation timeout) for a message; abandons `msgid` on timeout.
    private func awaitMessage(_ ld: OpaquePointer, msgid: Int32, all: Bool, operation: String,
                              dn: String? = nil) throws -> OpaquePointer {
        var seconds = configuration.operationTimeout
        if let deadline {
            let left = deadline - ContinuousClock.now
            seconds = min(seconds, max(0.001, Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18))
        }
        var timeout = Self.timeval(seconds)
        var message: OpaquePointer? = nil
        let rc = ldap_result(ld, msgid, all ? LDAP_MSG_ALL : LDAP_MSG_ONE, &timeout, &message)
        switch rc {
        case 0:
            if msgid != LDAP_RES_ANY { ldap_abandon_ext(ld, msgid, nil, nil) }
            throw LDAPError(code: .timeout, operation: operation, dn: dn,
                            diagnosticMessage: "no answer within \((seconds * 1000).rounded() / 1000) s")
        case -1:
            throw error(lastResultCode(ld), operation, dn: dn)
        default:
            return message!
        }
    }

    /// Parses and frees a result message; nil error for success.
    private func parseResult(_ ld: OpaquePointer, _ message: OpaquePointer, operation: String,
                             dn: String?) -> (code: LDAPResultCode, error: LDAPError?) {
        var code: Int32 = 0
        var matched: UnsafeMutablePointer<CChar>? = nil
        var diagnostic: UnsafeMutablePointer<CChar>? = nil
        let rc = ldap_parse_result(ld, message, &code, &matched, &diagnostic, nil, nil, 1)
        defer { ldap_memfree(matched); ldap_memfree(diagnostic) }
        if rc != LDAP_SUCCESS { return (.init(rc), error(rc, operation, dn: dn)) }
        if code == LDAP_SUCCESS { return (.success, nil) }
        return (.init(code), LDAPError(code: .init(code), operation: operation, dn: dn,
                                       diagnosticMessage: diagnostic.map { String(cString: $0) },
                                       matchedDN: matched.map { String(cString: $0) }))
    }

    /// Parses and frees a search result; returns the paged results cookie (empty: last page).
    private func parseSearchResult(_ ld: OpaquePointer, _ message: OpaquePointer, base: String) throws -> [UInt8] {
        var code: Int32 = 0
        var matched: UnsafeMutablePointer<CChar>? = nil
        var diagnostic: UnsafeMutablePointer<CChar>? = nil
        var controls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>? = nil
        let rc = ldap_parse_result(ld, message, &code, &matched, &diagnostic, nil, &controls, 1)
        defer { ldap_memfree(matched); ldap_memfree(diagnostic); ldap_controls_free(controls) }
        if rc != LDAP_SUCCESS { throw error(rc, "search", dn: base) }
        if code != LDAP_SUCCESS {
            throw LDAPError(code: .init(code), operation: "search", dn: base,
                            diagnosticMessage: diagnostic.map { String(cString: $0) },
                            matchedDN: matched.map { String(cString: $0) })
        }
        guard let pageControl = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, controls, nil) else { return [] }
        var count: ber_int_t = 0
        var cookie = berval()
        let parsed = ldap_parse_pageresponse_control(ld, pageControl, &count, &cookie)
        defer { ber_memfree(cookie.bv_val) }
        if parsed != LDAP_SUCCESS { throw error(parsed, "search (paged results response)", dn: base) }
        guard let value = cookie.bv_val, cookie.bv_len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: value, count: Int(cookie.bv_len)))
    }

    /// Copies an entry out of libldap's memory (does not free the message).
    private func parseEntry(_ ld: OpaquePointer, _ message: OpaquePointer) -> Entry {
        let dnPointer = ldap_get_dn(ld, message)
        defer { ldap_memfree(dnPointer) }
        let dn = dnPointer.map { String(cString: $0) } ?? ""
        var attributes: [Attribute] = []
        var ber: OpaquePointer? = nil
        var name = ldap_first_attribute(ld, message, &ber)
        while let current = name {
            var values: [String] = []
            if let bervals = ldap_get_values_len(ld, message, current) {
                var i = 0
                while let bv = bervals[i] {
                    values.append(String(decoding: UnsafeRawBufferPointer(start: bv.pointee.bv_val,
                                                                           count: Int(bv.pointee.bv_len)), as: UTF8.self))
                    i += 1
                }
                ldap_value_free_len(bervals)
            }
            attributes.append(Attribute(String(cString: current), values))
            ldap_memfree(current)
            name = ldap_next_attribute(ld, message, ber)
        }
        if let ber { ber_free(ber, 0) }
        return Entry(dn: DistinguishedName(trusted: dn), attributes: attributes)
    }

    // MARK: - Errors and options

    private func lastResultCode(_ ld: OpaquePointer) -> Int32 {
        var code: Int32 = LDAP_OTHER
        _ = ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &code)
        return code
    }

    /// An error for a libldap return code, with the handle's diagnostic message if it has one.
    private func error(_ rc: Int32, _ operation: String, dn: String? = nil) -> LDAPError {
        var diagnostic: UnsafeMutablePointer<CChar>? = nil
        var matched: UnsafeMutablePointer<CChar>? = nil
        if let ld {
            _ = ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diagnostic)
            _ = ldap_get_option(ld, LDAP_OPT_MATCHED_DN, &matched)
        }
        defer { ldap_memfree(diagnostic); ldap_memfree(matched) }
        let text = String(cString: ldap_err2string(rc))
        let detail = diagnostic.map { String(cString: $0) }.flatMap { $0.isEmpty || $0 == text ? nil : $0 }
        return LDAPError(code: .init(rc), operation: operation, dn: dn,
                         diagnosticMessage: detail.map { "\(text): \($0)" } ?? text,
                         matchedDN: matched.map { String(cString: $0) })
    }

    private func check(_ rc: Int32, _ operation: String) throws {
        if rc != LDAP_OPT_SUCCESS { throw error(rc, operation) }
    }

    private func setOption<T: BitwiseCopyable>(_ option: Int32, _ value: T) throws {
        var value = value
        try check(ldap_set_option(ld, option, &value), "set option \(option)")
    }

    static func timeval(_ seconds: Double) -> timeval {
        let whole = seconds.rounded(.down)
        return Glibc.timeval(tv_sec: Int(whole), tv_usec: Int((seconds - whole) * 1_000_000))
    }
}


private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString(body)
}

/// Owns the C memory of one request's arguments (LDAPMod arrays, string arrays) and frees it
/// all at once when the request has been handed to libldap.
private final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []
    deinit { for pointer in allocations { pointer.deallocate() } }

    private func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
        allocations.append(UnsafeMutableRawPointer(pointer))
        return pointer
    }

    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(string.utf8)
        let pointer = allocate(CChar.self, count: utf8.count + 1)
        for (i, byte) in utf8.enumerated() { pointer[i] = CChar(bitPattern: byte) }
        pointer[utf8.count] = 0
        return pointer
    }

    func stringArray(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let array = allocate(UnsafeMutablePointer<CChar>?.self, count: strings.count + 1)
        for (i, string) in strings.enumerated() { array[i] = cString(string) }
        array[strings.count] = nil
        return array
    }

    /// A NULL-terminated LDAPMod* array with binary (berval) values.
    func modifications(_ items: [(op: Int32, type: String, values: [String])]) -> UnsafeMutablePointer<UnsafeMutablePointer<LDAPMod>?> {
        let array = allocate(UnsafeMutablePointer<LDAPMod>?.self, count: items.count + 1)
        for (i, item) in items.enumerated() {
            var bervals: UnsafeMutablePointer<UnsafeMutablePointer<berval>?>? = nil
            if !item.values.isEmpty {
                let list = allocate(UnsafeMutablePointer<berval>?.self, count: item.values.count + 1)
                for (j, value) in item.values.enumerated() {
                    let utf8 = Array(value.utf8)
                    let bytes = allocate(CChar.self, count: utf8.count)
                    for (k, byte) in utf8.enumerated() { bytes[k] = CChar(bitPattern: byte) }
                    let bv = allocate(berval.self, count: 1)
                    bv.initialize(to: berval(bv_len: ber_len_t(utf8.count), bv_val: bytes))
                    list[j] = bv
                }
                list[item.values.count] = nil
                bervals = list
            }
            let mod = allocate(LDAPMod.self, count: 1)
            mod.initialize(to: LDAPMod())
            mod.pointee.mod_op = item.op | LDAP_MOD_BVALUES
            mod.pointee.mod_type = cString(item.type)
            mod.pointee.mod_vals.modv_bvals = bervals
            array[i] = mod
        }
        array[items.count] = nil
        return array
    }
}
