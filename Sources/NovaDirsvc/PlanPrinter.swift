import LDAP

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Prints a reconcile plan, one change at a time to `write` (never the whole text in memory):
/// as an LDIF change file that `ldapmodify -f` applies as it is, or as JSON.
package struct PlanPrinter {
    let mapping: EntryMapping
    let write: (String) -> Void

    package init(mapping: EntryMapping, write: @escaping (String) -> Void) {
        self.mapping = mapping
        self.write = write
    }

    /// LDIF change records (RFC 2849): changetype add / modify / delete.
    package func ldif(_ plan: ReconcilePlan) {
        write(
            "# nova-dirsvc reconcile: \(plan.additions) to add, \(plan.modifications) to modify, \(plan.deletions) to delete, "
                + "\(plan.conflicts.count) replication conflict entries to remove\n")
        for change in plan.changes {
            var text = "\n" + LDIF.line("dn", change.dn.string) + "\n"
            switch change {
            case .add(_, let record):
                text += "changetype: add\n"
                for attribute in mapping.attributes(for: record) {
                    for value in attribute.values { text += LDIF.line(attribute.name, value) + "\n" }
                }
            case .modify(_, _, let modifications):
                text += "changetype: modify\n"
                for modification in modifications {
                    text += "\(modification.kind.rawValue): \(modification.attribute)\n"
                    for value in modification.values { text += LDIF.line(modification.attribute, value) + "\n" }
                    text += "-\n"
                }
            case .delete:
                text += "changetype: delete\n"
            case .deleteConflict:
                text = "\n# a replication conflict entry" + text + "changetype: delete\n"
            }
            write(text)
        }
    }

    /// A JSON array of {"action", "dn", "instance_uuid", and "attributes" (add) or "changes" (modify)}.
    package func json(_ plan: ReconcilePlan) {
        write("[")
        for (i, change) in plan.changes.enumerated() {
            var item: [String: JSONValue] = ["dn": .string(change.dn.string)]
            switch change {
            case .add(_, let record):
                item["action"] = .string("add")
                item["instance_uuid"] = .string(record.instanceUUID)
                item["attributes"] = .object(
                    Dictionary(mapping.attributes(for: record).map { ($0.name, $0.values) }, uniquingKeysWith: +)
                        .mapValues(JSONValue.strings))
            case .modify(_, let uuid, let modifications):
                item["action"] = .string("modify")
                item["instance_uuid"] = .string(uuid)
                item["changes"] = .array(
                    modifications.map { modification in
                        .object([
                            "op": .string(modification.kind.rawValue), "attribute": .string(modification.attribute),
                            "values": .strings(modification.values),
                        ])
                    })
            case .delete(_, let uuid):
                item["action"] = .string("delete")
                item["instance_uuid"] = .string(uuid)
            case .deleteConflict(_, let uuid):
                item["action"] = .string("delete-replication-conflict")
                item["instance_uuid"] = .string(uuid)
            }
            write((i == 0 ? "\n" : ",\n") + JSONValue.object(item).text)
        }
        write("\n]\n")
    }
}
