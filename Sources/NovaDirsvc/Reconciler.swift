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

    /// Reads every managed entry (paged, one level under the base DN, novaInstance only) and
    /// computes the plan (with `refusal` set when it deletes too much). Memory: the input records and the plan; directory entries are
    /// compared as they stream in and not kept.
    package func plan(
        live records: [InstanceRecord], leaveAlone: Set<String> = [], limits: Limits,
        now: Date = Date()
    ) throws -> ReconcilePlan {
        guard !records.isEmpty else {
            throw InputError(field: "instances", reason: "the list of live instances is empty: refusing to treat every entry as deleted")
        }
        try Registrar(connection: connection, mapping: mapping).checkBaseExists()
        var wanted: [String: InstanceRecord] = [:]
        wanted.reserveCapacity(records.count)
        var order: [String] = []
        for record in records where wanted.updateValue(record, forKey: record.instanceUUID) == nil {
            order.append(record.instanceUUID)
        }
        var plan = ReconcilePlan()
        var seen = Set<String>()
        let attributes = ["objectClass"] + EntryMapping.managedAttributes + ["createTimestamp", "modifyTimestamp"]
        try connection.search(
            base: mapping.baseDN, scope: .oneLevel, filter: EntryMapping.managedFilter,
            attributes: attributes
        ) { entry in
            plan.managedCount += 1
            guard let uuid = entry["novaInstanceUUID"].first?.lowercased(),
                entry.dn.string.lowercased() == mapping.dn(for: uuid).string.lowercased()
            else {
                plan.skipped.append(entry.dn)
                return
            }
            seen.insert(uuid)
            if leaveAlone.contains(uuid) {
                plan.leftAlone.append(entry.dn)
            } else if let record = wanted[uuid] {
                let changes = mapping.modifications(from: entry, to: record)
                if changes.isEmpty { plan.unchanged += 1 } else { plan.changes.append(.modify(entry.dn, instanceUUID: uuid, changes)) }
            } else {
                let touched = [entry["modifyTimestamp"].first, entry["createTimestamp"].first].compactMap {
                    $0.flatMap(GeneralizedTime.parse)
                }.max()
                if let touched, now.timeIntervalSince1970 - touched < limits.grace {
                    plan.keptByGrace.append(entry.dn)
                } else {
                    plan.changes.append(.delete(entry.dn, instanceUUID: uuid))
                }
            }
        }
        for uuid in order where !seen.contains(uuid) {
            plan.changes.append(.add(mapping.dn(for: uuid), wanted[uuid]!))
        }
        // 389-ds hides replication conflict entries from every search that does not ask for
        // ldapsubentry; they carry novaInstance like the entry they shadow.
        try connection.search(
            base: mapping.baseDN, scope: .oneLevel,
            filter: .and([EntryMapping.managedFilter, EntryMapping.conflictFilter]),
            attributes: ["novaInstanceUUID"]
        ) { entry in
            let uuid = entry["novaInstanceUUID"].first?.lowercased() ?? ""
            if !leaveAlone.contains(uuid) { plan.changes.append(.deleteConflict(entry.dn, instanceUUID: uuid)) }
        }
        let cutoff = Int64((now.timeIntervalSince1970 - limits.tombstoneTTL) * 1_000_000)
        try connection.search(
            base: mapping.baseDN, scope: .oneLevel, filter: EntryMapping.tombstoneFilter,
            attributes: [NovaSchema.lastEventTime]
        ) { entry in
            if let time = entry[NovaSchema.lastEventTime].first.flatMap(EventTime.init(generalized:)), time.microseconds < cutoff {
                plan.expiredTombstones.append(entry.dn)
            }
        }
        let deletions = plan.deletions
        if deletions > 0, !limits.allowMassDelete,
            Double(deletions) > limits.maxDeleteRatio * Double(plan.managedCount)
        {
            plan.refusal = InputError(
                field: "instances",
                reason: "\(deletions) of \(plan.managedCount) managed entries would be deleted, "
                    + "more than --max-delete-ratio \(limits.maxDeleteRatio): refusing (check the input; --allow-mass-delete to proceed)")
        }
        return plan
    }

    /// The outcome of applying a plan.
    package struct Summary: Sendable {
        package var added = 0, modified = 0, deleted = 0, unchanged = 0, keptByGrace = 0, conflictsRemoved = 0, tombstonesExpired = 0
        package var failures: [(dn: String, error: LDAPError)] = []
        package var elapsed: Duration = .zero
        package var description: String {
            "added \(added), modified \(modified), deleted \(deleted), unchanged \(unchanged), "
                + "kept (grace) \(keptByGrace), replication conflicts removed \(conflictsRemoved), "
                + "expired tombstones removed \(tombstonesExpired), failed \(failures.count), elapsed \(elapsed)"
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
                summary.failures.append((change.dn.string, error))
                return
            }
            switch change {
            case .add: summary.added += 1
            case .modify: summary.modified += 1
            case .delete: summary.deleted += 1
            case .deleteConflict: summary.conflictsRemoved += 1
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
