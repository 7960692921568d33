import LDAP

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One change of a reconcile plan.
package enum PlannedChange: Sendable {
    case add(DistinguishedName, InstanceRecord)
    case modify(DistinguishedName, instanceUUID: String, [Modification])
    case delete(DistinguishedName, instanceUUID: String)
    /// A replication conflict entry (389-ds: `cn=<uuid>+nsuniqueid=...`, ldapsubentry, with
    /// nsds5ReplConflict), left when two suppliers added the same instance at once; the live
    /// entry is made right by the rest of the plan, and this copy goes.
    case deleteConflict(DistinguishedName, instanceUUID: String)

    package var dn: DistinguishedName {
        switch self {
        case .add(let dn, _), .modify(let dn, _, _), .delete(let dn, _), .deleteConflict(let dn, _): return dn
        }
    }
}

/// What reconcile would do: computed once, then printed (dry run), checked, or applied.
package struct ReconcilePlan: Sendable {
    package var changes: [PlannedChange] = []
    /// Managed entries read from the directory.
    package var managedCount = 0
    package var unchanged = 0
    /// Entries that are not in the input but were created or modified within the grace period.
    package var keptByGrace: [DistinguishedName] = []
    /// Managed entries under the base DN whose novaInstanceUUID does not match their DN: left alone.
    package var skipped: [DistinguishedName] = []
    /// Entries of instances Nova could not report on (a cell that is down): not touched.
    package var leftAlone: [DistinguishedName] = []
    /// Why the plan must not be applied (too many deletions), if it must not: a dry run still
    /// shows it, `--check` still reports its drift, a real run refuses it (65).
    package var refusal: InputError?
    /// Tombstones of deleted instances older than `Limits.tombstoneTTL`: removed when the plan
    /// is applied (not drift: the instances stay deleted).
    package var expiredTombstones: [DistinguishedName] = []

    package var additions: Int { changes.count { if case .add = $0 { true } else { false } } }
    package var modifications: Int { changes.count { if case .modify = $0 { true } else { false } } }
    package var deletions: Int { changes.count { if case .delete = $0 { true } else { false } } }
    /// Replication conflict entries found (and to be removed).
    package var conflicts: [DistinguishedName] { changes.compactMap { if case .deleteConflict(let dn, _) = $0 { dn } else { nil } } }
    package var hasDrift: Bool { !changes.isEmpty }
}

/// Brings the directory in line with Nova's list of live instances.
package struct Reconciler {
    package let connection: LDAPConnection
    package let mapping: EntryMapping

    package init(connection: LDAPConnection, mapping: EntryMapping) {
        self.connection = connection
        self.mapping = mapping
    }

    /// Safety settings.
    package struct Limits: Sendable {
        /// Refuse when deletions would exceed this fraction of the managed entries...
        package var maxDeleteRatio: Double = 0.1
        /// ...unless this is set.
        package var allowMassDelete = false
        /// Never delete an entry created or modified less than this many seconds ago.
        package var grace: Double = 600
        /// How long (seconds, by Nova's clock) a deleted instance's tombstone refuses late
        /// creates before reconcile removes it: a week, longer than a notification can wait in
        /// a queue while serve is down.
        package var tombstoneTTL: Double = 7 * 86400
        package init() {}
    }

    /// The plan for a list held whole (`Planner` takes one in pieces): every managed entry is
    /// read (paged, one level under the base DN, novaInstance only) and compared, with
    /// `refusal` set when it deletes too much.
    package func plan(
        live records: [InstanceRecord], leaveAlone: Set<String> = [], limits: Limits,
        now: Date = Date()
    ) throws -> ReconcilePlan {
        var planner = try Planner(self, limits: limits, now: now)
        try planner.add(.init(records: records, unreachable: leaveAlone.sorted()))
        return try planner.finish()
    }

    /// The outcome of applying a plan.
    package struct Summary: Sendable {
        package var added = 0, modified = 0, deleted = 0, unchanged = 0, keptByGrace = 0, conflictsRemoved = 0, tombstonesExpired = 0
        /// Changes an event made moot since the directory was read (an add whose entry exists
        /// now, a modification or deletion whose entry is gone): the event's write stands.
        package var overtaken = 0
        package var failures: [(dn: String, error: LDAPError)] = []
        package var elapsed: Duration = .zero
        package var description: String {
            "added \(added), modified \(modified), deleted \(deleted), unchanged \(unchanged), "
                + "kept (grace) \(keptByGrace), replication conflicts removed \(conflictsRemoved), "
                + "expired tombstones removed \(tombstonesExpired), overtaken by events \(overtaken), failed \(failures.count), "
                + "elapsed \(elapsed)"
        }
    }

    /// Applies the plan with up to `window` operations outstanding on the connection. A failed
    /// entry does not stop the run: it is in the summary with its DN and error.
    package func apply(
        _ plan: ReconcilePlan, window: Int = 64,
        progress: ((_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> Summary {
        if let refusal = plan.refusal { throw refusal }
        var summary = Summary()
        summary.unchanged = plan.unchanged
        summary.keptByGrace = plan.keptByGrace.count
        var done = 0
        // changes that found the entry other than the index did: overtaken by an event if the
        // instance's own entry is there now (an add) or gone (a modification or deletion;
        // 389-ds answers insufficientAccessRights rather than noSuchObject when the account's
        // ACI does not cover what is not there)
        var toVerify: [(index: Int, error: LDAPError)] = []
        let operations = plan.changes.lazy.map { change -> WriteOperation in
            switch change {
            case .add(let dn, let record): return .add(dn, mapping.attributes(for: record))
            case .modify(let dn, _, let modifications): return .modify(dn, modifications)
            case .delete(let dn, _), .deleteConflict(let dn, _): return .delete(dn)
            }
        }
        try connection.perform(operations, window: window) { index, error in
            done += 1
            progress?(done, plan.changes.count)
            let change = plan.changes[index]
            if let error {
                switch (change, error.code) {
                case (.add, .entryAlreadyExists), (.modify, .noSuchObject), (.modify, .insufficientAccessRights),
                    (.delete, .noSuchObject), (.delete, .insufficientAccessRights), (.deleteConflict, .noSuchObject):
                    toVerify.append((index, error))
                default:
                    summary.failures.append((change.dn.string, error))
                }
                return
            }
            switch change {
            case .add: summary.added += 1
            case .modify: summary.modified += 1
            case .delete: summary.deleted += 1
            case .deleteConflict: summary.conflictsRemoved += 1
            }
        }
        for (index, error) in toVerify {
            let change = plan.changes[index]
            let uuid: String
            switch change {
            case .add(_, let record): uuid = record.instanceUUID
            case .modify(_, let instanceUUID, _), .delete(_, let instanceUUID), .deleteConflict(_, let instanceUUID): uuid = instanceUUID
            }
            let filter = Filter.and([EntryMapping.managedFilter, .equality("novaInstanceUUID", uuid)])
            let found = try connection.read(change.dn, filter: filter, attributes: ["1.1"]) != nil
            let isAdd: Bool
            if case .add = change { isAdd = true } else { isAdd = false }
            if found == isAdd {
                summary.overtaken += 1
            } else {
                summary.failures.append((change.dn.string, error))
            }
        }
        try connection.perform(plan.expiredTombstones.map { WriteOperation.delete($0) }, window: window) { index, error in
            if let error, error.code != .noSuchObject {
                summary.failures.append((plan.expiredTombstones[index].string, error))
            } else {
                summary.tombstonesExpired += 1
            }
        }
        return summary
    }
}

/// LDAP GeneralizedTime (RFC 4517 3.3.13) as 389-ds and OpenLDAP write timestamps:
/// YYYYMMDDHHMMSS[.fraction]Z.
enum GeneralizedTime {
    /// Seconds since 1970, or nil.
    static func parse(_ text: String) -> Double? {
        let digits = Array(text.utf8.prefix(14))
        guard digits.count == 14, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), text.hasSuffix("Z") else { return nil }
        func number(_ range: Range<Int>) -> Int { digits[range].reduce(0) { $0 * 10 + Int($1 - 0x30) } }
        let days = Int(EventTime.daysFromCivil(year: Int64(number(0..<4)), month: Int64(number(4..<6)), day: Int64(number(6..<8))))
        return Double(days * 86400 + number(8..<10) * 3600 + number(10..<12) * 60 + number(12..<14))
    }
}
