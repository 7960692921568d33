import CLDAP

extension LDAPConnection {
    /// Adds an entry.
    package func add(_ dn: DistinguishedName, _ attributes: [Attribute]) throws {
        try perform([.add(dn, attributes)], window: 1) { _, error in if let error { throw error } }
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
        _ = try wait(configuration.operationTimeout, operation.name, dn: operation.dn.string)
        var msgid: Int32 = 0
        let arena = CArena()
        let rc: Int32
        switch operation {
        case .add(let dn, let attributes):
            let mods = arena.modifications(attributes.map { (LDAP_MOD_ADD, $0.name, $0.values) })
            rc = try guarded(operation.name, dn: dn.string) { ldap_add_ext(ld, dn.string, mods, nil, nil, &msgid) }
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
            rc = try guarded(operation.name, dn: dn.string) { ldap_modify_ext(ld, dn.string, mods, nil, nil, &msgid) }
        case .delete(let dn):
            rc = try guarded(operation.name, dn: dn.string) { ldap_delete_ext(ld, dn.string, nil, nil, &msgid) }
        }
        // libldap has BER-encoded the request by now: the arena may go.
        if rc != LDAP_SUCCESS { throw error(rc, operation.name, dn: operation.dn.string) }
        return msgid
    }
}
