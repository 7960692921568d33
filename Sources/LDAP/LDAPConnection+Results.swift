import CLDAP
import Glibc

/// Waiting for answers, reading results, and turning libldap return codes into `LDAPError`.
extension LDAPConnection {
    // MARK: - Results

    /// Waits (up to the operation timeout and the deadline) for a message; abandons `msgid`
    /// on timeout.
    func awaitMessage(
        _ ld: OpaquePointer, msgid: Int32, all: Bool, operation: String,
        dn: String? = nil
    ) throws -> OpaquePointer {
        let limit = try wait(configuration.operationTimeout, operation, dn: dn)
        var timeout = Self.timeval(limit)
        var message: OpaquePointer? = nil
        let rc = try guarded(operation, dn: dn) { ldap_result(ld, msgid, all ? LDAP_MSG_ALL : LDAP_MSG_ONE, &timeout, &message) }
        switch rc {
        case 0:
            if msgid != LDAP_RES_ANY { ldap_abandon_ext(ld, msgid, nil, nil) }
            let budgetSpent = deadline.map { ContinuousClock.now >= $0 - .milliseconds(1) } ?? false
            throw LDAPError(
                code: .timeout, operation: operation, dn: dn,
                diagnosticMessage: budgetSpent ? "the time budget ran out" : "no answer within \(limit.secondsText) s")
        case -1:
            throw error(lastResultCode(ld), operation, dn: dn)
        default:
            return message!
        }
    }

    /// Parses and frees a result message; nil error for success.
    func parseResult(
        _ ld: OpaquePointer, _ message: OpaquePointer, operation: String,
        dn: String?
    ) -> (code: LDAPResultCode, error: LDAPError?) {
        var ignored: Entry? = nil
        return parseResult(ld, message, operation: operation, dn: dn, postRead: &ignored)
    }

    /// `parseResult`, and the entry of a post-read control in the answer, if it has one.
    func parseResult(
        _ ld: OpaquePointer, _ message: OpaquePointer, operation: String,
        dn: String?, postRead: inout Entry?
    ) -> (code: LDAPResultCode, error: LDAPError?) {
        var code: Int32 = 0
        var matched: UnsafeMutablePointer<CChar>? = nil
        var diagnostic: UnsafeMutablePointer<CChar>? = nil
        var controls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>? = nil
        let rc = ldap_parse_result(ld, message, &code, &matched, &diagnostic, nil, &controls, 1)
        defer {
            ldap_memfree(matched)
            ldap_memfree(diagnostic)
            ldap_controls_free(controls)
        }
        if let control = ldap_control_find(LDAP_CONTROL_POST_READ, controls, nil) { postRead = Self.readEntry(control) }
        if rc != LDAP_SUCCESS { return (.init(rc), error(rc, operation, dn: dn)) }
        if code == LDAP_SUCCESS { return (.success, nil) }
        return (
            .init(code),
            LDAPError(
                code: .init(code), operation: operation, dn: dn,
                diagnosticMessage: diagnostic.map { String(cString: $0) },
                matchedDN: matched.map { String(cString: $0) })
        )
    }

    /// The entry a pre/post-read response control carries (RFC 4527), copied out of C memory.
    static func readEntry(_ control: UnsafeMutablePointer<LDAPControl>) -> Entry? {
        var dn = berval()
        guard let ber = cldap_read_entry_begin(control, &dn) else { return nil }
        defer { ber_free(ber, 1) }
        var attributes: [Attribute] = []
        var name = berval()
        var values: BerVarray? = nil
        while cldap_read_entry_next(ber, &name, &values) != 0 {
            defer { ber_bvarray_free(values) }
            var strings: [String] = []
            var i = 0
            while let value = values?[i], value.bv_val != nil {
                strings.append(Self.string(value))
                i += 1
            }
            attributes.append(Attribute(Self.string(name), strings))
        }
        return Entry(dn: DistinguishedName(trusted: Self.string(dn)), attributes: attributes)
    }

    private static func string(_ value: berval) -> String {
        String(decoding: UnsafeRawBufferPointer(start: value.bv_val, count: Int(value.bv_len)), as: UTF8.self)
    }

    // MARK: - Errors and options

    func lastResultCode(_ ld: OpaquePointer) -> Int32 {
        var code: Int32 = LDAP_OTHER
        _ = ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &code)
        return code
    }

    /// An error for a libldap return code, with the handle's diagnostic message if it has
    /// one, or the cause of a failed TLS handshake.
    func error(_ rc: Int32, _ operation: String, dn: String? = nil) -> LDAPError {
        var diagnostic: UnsafeMutablePointer<CChar>? = nil
        var matched: UnsafeMutablePointer<CChar>? = nil
        if let ld {
            _ = ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diagnostic)
            _ = ldap_get_option(ld, LDAP_OPT_MATCHED_DN, &matched)
        }
        defer {
            ldap_memfree(diagnostic)
            ldap_memfree(matched)
        }
        let text = String(cString: ldap_err2string(rc))
        var detail = diagnostic.map { String(cString: $0) }.flatMap { $0.isEmpty || $0 == text ? nil : $0 }
        if let tls = TLSDiagnostics.text, rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR {
            detail = tls
        }
        if rc == LDAP_SERVER_DOWN, let deadline, ContinuousClock.now >= deadline {
            // the watchdog shut the socket down: the budget ran out, the server did not go away
            return LDAPError(code: .timeout, operation: operation, dn: dn, diagnosticMessage: "the time budget ran out")
        }
        return LDAPError(
            code: .init(rc), operation: operation, dn: dn,
            diagnosticMessage: detail.map { "\(text): \($0)" } ?? text,
            matchedDN: matched.map { String(cString: $0) })
    }

    func check(_ rc: Int32, _ operation: String) throws {
        if rc != LDAP_OPT_SUCCESS { throw error(rc, operation) }
    }

    func setOption<T: BitwiseCopyable>(_ option: Int32, _ value: T) throws {
        var value = value
        try check(ldap_set_option(ld, option, &value), "set option \(option)")
    }
}
