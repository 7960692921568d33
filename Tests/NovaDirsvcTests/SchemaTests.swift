import Foundation
import LDAP
import Testing

@testable import NovaDirsvc

@Suite("schema files")
struct SchemaFileTests {
    static let schemaFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("schema")

    @Test(
        "schema/ holds exactly what NovaSchema renders (one source of truth)",
        arguments: [
            ("98nova-dirsvc.ldif", NovaSchema.ldif389ds), ("nova-dirsvc.389ds-online.ldif", NovaSchema.ldif389dsOnline),
            ("nova-dirsvc.openldap.ldif", NovaSchema.ldifOpenLDAP),
        ])
    func filesMatch(file: String, rendered: String) throws {
        let text = try String(contentsOf: Self.schemaFolder.appendingPathComponent(file), encoding: .utf8)
        #expect(text == rendered, "regenerate with: nova-dirsvc schema --format ... > schema/\(file)")
    }

    @Test func oidsAreUnderTheProjectArc() {
        #expect(NovaSchema.attributeTypes.map(\.oid).allSatisfy { $0.hasPrefix("2.25.123011123252204243935185339756047193108.1.") })
        #expect(Set(NovaSchema.attributeTypes.map(\.oid)).count == NovaSchema.attributeTypes.count)
        #expect(NovaSchema.objectClassDefinition.contains("AUXILIARY MUST novaInstanceUUID"))
    }
}
