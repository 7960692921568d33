import LDAP

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension Reconciler {
    /// A plan from a list that arrives in pieces (Nova's pages, or one file after another),
    /// in memory that does not grow with the list: the directory's managed entries are read
    /// first into a compact index (per entry its UUID, a digest of each managed attribute and
    /// when it was last touched), then each piece is compared against it as it comes and let
    /// go. What is kept of the list is what differs: the records to add, the records of
    /// entries whose digests differ (their entries are read again at the end for the exact
    /// modifications) and the instances of cells that are down.
    ///
    /// The directory is read before the list: an instance Nova lists was alive after the
    /// index was read, so a late list never brings back an instance deleted before it.
    package struct Planner {
        private let reconciler: Reconciler
        private let limits: Limits
        private let now: Date
        private var plan = ReconcilePlan()

        // the index: one slot per managed entry whose DN is its UUID's
        private var slots: [String: Int32] = [:]
        private var uuids: [String] = []
        private var digests: [UInt64] = []
        private var touched: [Double] = []
        private var listing: [Listing] = []

        /// What the list said of an indexed entry.
        private enum Listing: UInt8 {
            case unlisted, same, mayDiffer, notLive, cellDown
        }

        private var mayDiffer: [Int32: InstanceRecord] = [:]
        private var additions: [InstanceRecord] = []
        /// Instances listed that have no entry (duplicates of the indexed ones are seen in `listing`).
        private var listedElsewhere = Set<String>()
        private var cellDown = Set<String>()

        /// What the list held.
        package private(set) var live = 0, deleted = 0, unreachable = 0

        private static let fieldCount = EntryMapping.managedAttributes.count

        /// Reads the index (one paged search of the managed entries).
        package init(_ reconciler: Reconciler, limits: Limits, now: Date = Date()) throws {
            self.reconciler = reconciler
            self.limits = limits
            self.now = now
            let mapping = reconciler.mapping
            try Registrar(connection: reconciler.connection, mapping: mapping).checkBaseExists()
            let attributes = ["objectClass"] + EntryMapping.managedAttributes + ["createTimestamp", "modifyTimestamp"]
            var skipped: [DistinguishedName] = []
            var managed = 0
            var slots: [String: Int32] = [:]
            var uuids: [String] = []
            var digests: [UInt64] = []
            var touched: [Double] = []
            try reconciler.connection.search(
                base: mapping.baseDN, scope: .oneLevel, filter: EntryMapping.managedFilter, attributes: attributes
            ) { entry in
                managed += 1
                guard let uuid = entry["novaInstanceUUID"].first?.lowercased(),
                    entry.dn.string.lowercased() == mapping.dn(for: uuid).string.lowercased(),
                    slots[uuid] == nil
                else {
                    skipped.append(entry.dn)
                    return
                }
                slots[uuid] = Int32(uuids.count)
                uuids.append(uuid)
                digests += EntryMapping.digests(of: entry)
                touched.append(
                    [entry["modifyTimestamp"].first, entry["createTimestamp"].first].compactMap {
                        $0.flatMap(GeneralizedTime.parse)
                    }.max() ?? -.infinity)
            }
            self.slots = slots
            self.uuids = uuids
            self.digests = digests
            self.touched = touched
            listing = Array(repeating: .unlisted, count: uuids.count)
            plan.managedCount = managed
            plan.skipped = skipped
        }

        /// Compares one piece of the list; refuses an instance listed twice (which would it be?).
        package mutating func add(_ list: InstanceListDecoder.InstanceList) throws {
            for record in list.records {
                let uuid = record.instanceUUID.lowercased()
                if let slot = try indexed(uuid) {
                    let first = Int(slot) * Self.fieldCount
                    if EntryMapping.mayChange(digests[first..<first + Self.fieldCount], to: record) {
                        listing[Int(slot)] = .mayDiffer
                        mayDiffer[slot] = record
                    } else {
                        listing[Int(slot)] = .same
                    }
                } else {
                    additions.append(record)
                }
            }
            for uuid in list.deleted {
                if let slot = try indexed(uuid.lowercased()) { listing[Int(slot)] = .notLive }
            }
            for uuid in list.unreachable {
                cellDown.insert(uuid.lowercased())
                if let slot = try indexed(uuid.lowercased()) { listing[Int(slot)] = .cellDown }
            }
            live += list.records.count
            deleted += list.deleted.count
            unreachable += list.unreachable.count
        }

        /// The entry's slot, if the instance has one; refuses a second listing.
        private mutating func indexed(_ uuid: String) throws -> Int32? {
            let slot = slots[uuid]
            let first = slot.map { listing[Int($0)] == .unlisted } ?? listedElsewhere.insert(uuid).inserted
            guard first else { throw InputError(field: "instances", reason: "the instance \(uuid) is listed twice") }
            return slot
        }

        /// The plan: the entries whose digests differ read again (100 to a search) for their
        /// exact modifications, then in the directory's order a modification, deletion (or
        /// grace) for each entry, the additions in the list's order, the replication conflict
        /// entries, the expired tombstones, and the refusal when it deletes too much.
        package func finish() throws -> ReconcilePlan {
            guard live > 0 else {
                throw InputError(
                    field: "instances", reason: "the list of live instances is empty: refusing to treat every entry as deleted")
            }
            let connection = reconciler.connection
            let mapping = reconciler.mapping
            var plan = self.plan
            var modifications: [Int32: [Modification]] = [:]
            let differing = mayDiffer.keys.sorted()
            for start in stride(from: 0, to: differing.count, by: 100) {
                let chunk = differing[start..<min(start + 100, differing.count)]
                let filter = Filter.and([
                    EntryMapping.managedFilter, .or(chunk.map { .equality("novaInstanceUUID", uuids[Int($0)]) }),
                ])
                try connection.search(
                    base: mapping.baseDN, scope: .oneLevel, filter: filter, attributes: EntryMapping.managedAttributes
                ) { entry in
                    guard let uuid = entry["novaInstanceUUID"].first?.lowercased(), let slot = slots[uuid],
                        let record = mayDiffer[slot]
                    else { return }
                    modifications[slot] = mapping.modifications(from: entry, to: record)
                }
            }
            for (index, uuid) in uuids.enumerated() {
                let dn = mapping.dn(for: uuid)
                switch listing[index] {
                case .same:
                    plan.unchanged += 1
                case .mayDiffer:
                    // an entry gone since the index was read was deleted meanwhile: not brought back
                    guard let changes = modifications[Int32(index)] else { continue }
                    if changes.isEmpty {
                        plan.unchanged += 1
                    } else {
                        plan.changes.append(.modify(dn, instanceUUID: uuid, changes))
                    }
                case .cellDown:
                    plan.leftAlone.append(dn)
                case .unlisted, .notLive:
                    if now.timeIntervalSince1970 - touched[index] < limits.grace {
                        plan.keptByGrace.append(dn)
                    } else {
                        plan.changes.append(.delete(dn, instanceUUID: uuid))
                    }
                }
            }
            for record in additions {
                plan.changes.append(.add(mapping.dn(for: record.instanceUUID), record))
            }
            // 389-ds hides replication conflict entries from every search that does not ask for
            // ldapsubentry; they carry novaInstance like the entry they shadow.
            try connection.search(
                base: mapping.baseDN, scope: .oneLevel,
                filter: .and([EntryMapping.managedFilter, EntryMapping.conflictFilter]),
                attributes: ["novaInstanceUUID"]
            ) { entry in
                let uuid = entry["novaInstanceUUID"].first?.lowercased() ?? ""
                if !cellDown.contains(uuid) { plan.changes.append(.deleteConflict(entry.dn, instanceUUID: uuid)) }
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
                        + "more than --max-delete-ratio \(limits.maxDeleteRatio): refusing (check the input; --allow-mass-delete to proceed)"
                )
            }
            return plan
        }
    }
}
