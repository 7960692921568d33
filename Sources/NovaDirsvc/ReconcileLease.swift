import LDAP

/// One scheduled reconcile per interval across every serve that writes to a directory (serve's
/// `[nova] reconcile_interval`): a lease kept in the directory itself, where every serve sees
/// it, in an object the service account may already write: the tombstone of the nil UUID
/// (`novaDeletedInstanceUUID=00000000-0000-0000-0000-000000000000`, which no instance has), whose
/// `novaLastEventTime` is the end of the current claim. A serve claims the next round by moving
/// that time from a value that has passed to the end of its round, in one modify that deletes
/// the old value and adds the new one: of two serves at once, the second's delete finds the
/// value gone and fails (LDAP applies a modify's changes all or none), so it skips the round.
package enum ReconcileLease {
    package static let uuid = "00000000-0000-0000-0000-000000000000"

    /// Claims the round until `until` when no claim runs past `now`; whether it did.
    package static func claim(_ connection: LDAPConnection, mapping: EntryMapping, now: EventTime, until: EventTime) throws -> Bool {
        let dn = mapping.tombstoneDN(for: uuid)
        if let entry = try connection.read(dn, filter: EntryMapping.tombstoneFilter, attributes: [NovaSchema.lastEventTime]) {
            let held = entry[NovaSchema.lastEventTime]
            if let end = held.first.flatMap(EventTime.init(generalized:)), end > now { return false }
            do {
                try connection.modify(
                    dn,
                    (held.isEmpty ? [] : [.delete(NovaSchema.lastEventTime, held)])
                        + [.add(NovaSchema.lastEventTime, [until.generalized])])
                return true
            } catch let error as LDAPError where error.code == .noSuchAttribute || error.code == .attributeOrValueExists {
                return false  // another serve moved it first
            }
        }
        do {
            try connection.add(dn, mapping.tombstoneAttributes(for: uuid, time: until))
            return true
        } catch LDAPResultCode.entryAlreadyExists {
            return false
        }
    }
}
