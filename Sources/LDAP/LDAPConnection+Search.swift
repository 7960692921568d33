import CLDAP

extension LDAPConnection {
    /// Searches with the simple paged results control (RFC 2696), `pageSize` entries a page,
    /// and calls `body` with each entry as it arrives, so a search returns every matching
    /// entry even where the server's size limit is lower, and memory holds one page at most.
    /// If `body` throws, the search is abandoned and the error rethrown.
    package func search(
        base: DistinguishedName, scope: SearchScope = .subtree, filter: Filter,
        attributes: [String] = [], pageSize: Int = 1000,
        _ body: (Entry) throws -> Void
    ) throws {
        let ld = try handle("search")
        let arena = CArena()
        let attrs: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? =
            attributes.isEmpty ? nil : arena.stringArray(attributes)
        let scopeValue: Int32 =
            switch scope {
            case .base: cldap_scope_base
            case .oneLevel: cldap_scope_onelevel
            case .subtree: cldap_scope_subtree
            }
        let filterString = filter.description
        var cookie: [UInt8] = []
        repeat {
            var control: UnsafeMutablePointer<LDAPControl>? = nil
            var rc: Int32 = cookie.withUnsafeMutableBytes { bytes in
                var cookieValue = berval(
                    bv_len: ber_len_t(bytes.count),
                    bv_val: bytes.baseAddress?.assumingMemoryBound(to: CChar.self))
                // critical: a server without paging fails the search instead of truncating it
                if bytes.isEmpty { return ldap_create_page_control(ld, ber_int_t(pageSize), nil, 1, &control) }
                return ldap_create_page_control(ld, ber_int_t(pageSize), &cookieValue, 1, &control)
            }
            if rc != LDAP_SUCCESS { throw error(rc, "search", dn: base.string) }
            var serverControls: [UnsafeMutablePointer<LDAPControl>?] = [control, nil]
            var msgid: Int32 = 0
            rc = try guarded("search", dn: base.string) {
                serverControls.withUnsafeMutableBufferPointer { controls in
                    ldap_search_ext(
                        ld, base.string, scopeValue, filterString, attrs, 0,
                        controls.baseAddress, nil, nil, LDAP_NO_LIMIT, &msgid)
                }
            }
            ldap_control_free(control)
            if rc != LDAP_SUCCESS { throw error(rc, "search", dn: base.string) }

            var done = false
            do {
                while !done {
                    let message = try awaitMessage(ld, msgid: msgid, all: false, operation: "search", dn: base.string)
                    switch ldap_msgtype(message) {
                    case cldap_res_search_entry:
                        let entry = parseEntry(ld, message)
                        ldap_msgfree(message)
                        try body(entry)
                    case cldap_res_search_result:
                        done = true
                        cookie = try parseSearchResult(ld, message, base: base.string)
                    case cldap_res_search_reference where scope == .base:
                        // the entry itself is a referral (objectClass referral): it exists,
                        // and it is not an ordinary entry
                        ldap_msgfree(message)
                        throw LDAPError(
                            code: .referral, operation: "search", dn: base.string,
                            diagnosticMessage: "the entry is a referral to another server")
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
    package func search(
        base: DistinguishedName, scope: SearchScope = .subtree, filter: Filter,
        attributes: [String] = [], pageSize: Int = 1000
    ) throws -> [Entry] {
        var entries: [Entry] = []
        try search(base: base, scope: scope, filter: filter, attributes: attributes, pageSize: pageSize) {
            entries.append($0)
        }
        return entries
    }

    /// Reads one entry by DN, or nil when there is none (or it does not match `filter`).
    package func read(
        _ dn: DistinguishedName, filter: Filter = .present("objectClass"),
        attributes: [String] = []
    ) throws -> Entry? {
        do {
            return try search(base: dn, scope: .base, filter: filter, attributes: attributes).first
        } catch LDAPResultCode.noSuchObject {
            return nil
        }
    }

    /// Parses and frees a search result; returns the paged results cookie (empty: last page).
    func parseSearchResult(_ ld: OpaquePointer, _ message: OpaquePointer, base: String) throws -> [UInt8] {
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
        if rc != LDAP_SUCCESS { throw error(rc, "search", dn: base) }
        if code != LDAP_SUCCESS {
            throw LDAPError(
                code: .init(code), operation: "search", dn: base,
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
    func parseEntry(_ ld: OpaquePointer, _ message: OpaquePointer) -> Entry {
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
                    values.append(
                        String(
                            decoding: UnsafeRawBufferPointer(
                                start: bv.pointee.bv_val,
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
}
