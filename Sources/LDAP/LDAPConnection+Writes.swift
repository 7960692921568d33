import CLDAP

extension LDAPConnection {
    /// Adds an entry.
    package func add(_ dn: DistinguishedName, _ attributes: [Attribute]) throws {
        try perform([.add(dn, attributes)], window: 1) { _, error in if let error { throw error } }
    }

    /// Adds an entry and returns `attributes` of it as the server wrote it (RFC 4527 post-read
    /// control: in the add's own answer, so no later write can slip in between, as one can
    /// between an add and a search; e.g. the `nsUniqueId` 389-ds assigned). Nil when the server
    /// does not return the control (one that does not know it ignores it).
    package func add(_ dn: DistinguishedName, _ attributes: [Attribute], readingBack names: [String]) throws -> Entry? {
        var written: Entry? = nil
        try perform([.add(dn, attributes)], window: 1, readingBack: { _ in names }) { _, error, entry in
            if let error { throw error }
            written = entry
        }
        return written
    }

    /// Modifies an entry.
    package func modify(_ dn: DistinguishedName, _ modifications: [Modification]) throws {
        try perform([.modify(dn, modifications)], window: 1) { _, error in if let error { throw error } }
    }

    /// Deletes an entry.
    package func delete(_ dn: DistinguishedName) throws {
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
    package func perform<Operations: Sequence<WriteOperation>>(
        _ operations: Operations, window: Int = 64,
        completion: (_ index: Int, _ error: LDAPError?) throws -> Void
    ) throws {
        try perform(operations, window: window, readingBack: { _ in nil }) { index, error, _ in try completion(index, error) }
    }

    /// `perform`, reading back from the server's answer to operation `index` the attributes
    /// `readingBack(index)` names (an add or a modify; nil: none), as `add(_:_:readingBack:)` does.
    package func perform<Operations: Sequence<WriteOperation>>(
        _ operations: Operations, window: Int = 64, readingBack: (_ index: Int) -> [String]?,
        completion: (_ index: Int, _ error: LDAPError?, _ written: Entry?) throws -> Void
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
                outstandingDNs[operation.dn.string.lowercased(), default: 0] == 0
            {
                let msgid = try send(operation, on: ld, readingBack: readingBack(nextIndex))
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
            var written: Entry? = nil
            let result = parseResult(ld, message, operation: operation.name, dn: operation.dn.string, postRead: &written)
            try completion(index, result.error, written)
        }
    }

    private func send(_ operation: WriteOperation, on ld: OpaquePointer, readingBack names: [String]?) throws -> Int32 {
        _ = try wait(configuration.operationTimeout, operation.name, dn: operation.dn.string)
        var msgid: Int32 = 0
        let arena = CArena()
        var postRead: UnsafeMutablePointer<LDAPControl>? = nil
        defer { ldap_control_free(postRead) }
        if let names, operation.leavesEntry {
            let rc = cldap_post_read_control(arena.stringArray(names), &postRead)
            if rc != LDAP_SUCCESS { throw error(rc, "\(operation.name) (post-read control)", dn: operation.dn.string) }
        }
        let rc: Int32
        switch operation {
        case .add(let dn, let attributes):
            let mods = arena.modifications(attributes.map { (LDAP_MOD_ADD, $0.name, $0.values) })
            rc = try guarded(operation.name, dn: dn.string) {
                Self.withControls(postRead) { controls in ldap_add_ext(ld, dn.string, mods, controls, nil, &msgid) }
            }
        case .modify(let dn, let modifications):
            let mods = arena.modifications(
                modifications.map { modification in
                    let op: Int32 =
                        switch modification.kind {
                        case .add: LDAP_MOD_ADD
                        case .delete: LDAP_MOD_DELETE
                        case .replace: LDAP_MOD_REPLACE
                        }
                    return (op, modification.attribute, modification.values)
                })
            rc = try guarded(operation.name, dn: dn.string) {
                Self.withControls(postRead) { controls in ldap_modify_ext(ld, dn.string, mods, controls, nil, &msgid) }
            }
        case .delete(let dn):
            rc = try guarded(operation.name, dn: dn.string) { ldap_delete_ext(ld, dn.string, nil, nil, &msgid) }
        }
        // libldap has BER-encoded the request by now: the arena may go.
        if rc != LDAP_SUCCESS { throw error(rc, operation.name, dn: operation.dn.string) }
        return msgid
    }

    /// Calls `body` with a NULL-terminated list holding `control`, or with nil when there is none
    /// (the common write: no list is built).
    private static func withControls<R>(
        _ control: UnsafeMutablePointer<LDAPControl>?,
        _ body: (UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?) throws -> R
    ) rethrows -> R {
        guard let control else { return try body(nil) }
        var list: [UnsafeMutablePointer<LDAPControl>?] = [control, nil]
        return try list.withUnsafeMutableBufferPointer { try body($0.baseAddress) }
    }
}
