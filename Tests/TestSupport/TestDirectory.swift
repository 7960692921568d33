import Foundation
import LDAP

/// The throwaway 389 Directory Server that `scripts/directory.sh` starts, found through the
/// environment (`NOVA_DIRSVC_TEST_*`, written to DIR/env by the script). Integration tests are
/// enabled only when it is there; `swift test` without it skips them with this message.
package enum TestDirectory {
    package static let skipMessage =
        "no test directory: run `scripts/directory.sh run /tmp/nd -- swift test` (or scripts/test.sh)"

    private static let environment = ProcessInfo.processInfo.environment
    private static func value(_ name: String) -> String? {
        environment["NOVA_DIRSVC_TEST_\(name)"].flatMap { $0.isEmpty ? nil : $0 }
    }

    package static var isAvailable: Bool { value("URI") != nil }

    /// Set by scripts/test.sh (and so CI): every integration test must run, none may skip.
    package static var isRequired: Bool { value("REQUIRE_ALL") == "1" }

    package static var uri: String { value("URI")! }
    package static var ldapiURI: String { value("LDAPI_URI")! }
    package static var suffix: DistinguishedName { try! DistinguishedName(validating: value("SUFFIX")!) }
    package static var baseDN: DistinguishedName { try! DistinguishedName(validating: value("BASE_DN")!) }
    package static var adminDN: String { value("ADMIN_DN")! }
    package static var adminPasswordFile: String { value("ADMIN_PASSWORD_FILE")! }
    package static var serviceDN: String { value("SERVICE_DN")! }
    package static var servicePasswordFile: String { value("SERVICE_PASSWORD_FILE")! }

    package static func password(_ file: String) -> Password {
        Password(try! String(contentsOfFile: file, encoding: .utf8))
    }

    /// A connection bound as the least-privilege service account over ldap://127.0.0.1.
    package static func serviceConnection(timeout: Duration = .seconds(10)) throws -> LDAPConnection {
        try LDAPConnection.connect(
            LDAPConnection.Configuration(uris: [uri], operationTimeout: timeout),
            credentials: .simple(dn: serviceDN, password: password(servicePasswordFile)))
    }

    /// A connection bound as cn=Directory Manager through SASL EXTERNAL over ldapi.
    package static func adminConnection() throws -> LDAPConnection {
        try LDAPConnection.connect(
            LDAPConnection.Configuration(uris: [ldapiURI]),
            credentials: .sasl(mechanism: "EXTERNAL"))
    }

    /// Creates a fresh container `ou=<name>-<random>` under the instances base DN (as the
    /// administrator) so tests running in parallel do not see each other's entries.
    package static func makeContainer(_ name: String) throws -> DistinguishedName {
        let dn = baseDN.child("ou", "\(name)-\(UUID().uuidString.prefix(8).lowercased())")
        let admin = try adminConnection()
        defer { admin.close() }
        try admin.add(
            dn,
            [
                Attribute("objectClass", ["top", "organizationalUnit"]),
                Attribute("ou", [dn.string.split(separator: ",")[0].dropFirst(3).description]),
            ])
        return dn
    }
}

/// What `ldapsearch` (OpenLDAP's command-line tool, not our code) sees: the independent check of
/// what the library or the CLI wrote.
package enum LDAPSearchTool {
    package struct Entry: Equatable, Sendable {
        package var dn: String
        /// Attribute name (lowercased) to values, in the order ldapsearch printed them.
        package var attributes: [String: [String]]
        package subscript(_ name: String) -> [String] { attributes[name.lowercased()] ?? [] }
    }

    /// Runs `ldapsearch -LLL` as Directory Manager over ldapi and parses its LDIF output.
    package static func search(
        base: String, scope: String = "sub", filter: String = "(objectClass=*)",
        attributes: [String] = ["*"]
    ) throws -> [Entry] {
        let output = try run(
            "/usr/bin/ldapsearch",
            [
                "-LLL", "-o", "ldif-wrap=no", "-Q", "-Y", "EXTERNAL", "-H", TestDirectory.ldapiURI,
                "-b", base, "-s", scope, filter,
            ] + attributes)
        return parseLDIF(output)
    }

    /// Counts entries with a paged search (`-E pr=1000/noprompt`) that prints only DNs.
    package static func count(base: String, filter: String) throws -> Int {
        let output = try run(
            "/usr/bin/ldapsearch",
            [
                "-LLL", "-o", "ldif-wrap=no", "-Q", "-Y", "EXTERNAL", "-H", TestDirectory.ldapiURI,
                "-E", "pr=1000/noprompt", "-b", base, filter, "1.1",
            ])
        return output.split(separator: "\n").filter { $0.hasPrefix("dn:") }.count
    }

    package static func parseLDIF(_ text: String) -> [Entry] {
        var entries: [Entry] = []
        for block in text.components(separatedBy: "\n\n") {
            var dn: String?
            var attributes: [String: [String]] = [:]
            for line in block.split(separator: "\n") where !line.hasPrefix("#") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = String(line[..<colon]).lowercased()
                var rest = line[line.index(after: colon)...]
                let value: String
                if rest.hasPrefix(":") {
                    rest = rest.dropFirst().drop(while: { $0 == " " })
                    value = String(decoding: Data(base64Encoded: String(rest)) ?? Data(), as: UTF8.self)
                } else {
                    value = String(rest.drop(while: { $0 == " " }))
                }
                if name == "dn" { dn = value } else { attributes[name, default: []].append(value) }
            }
            if let dn { entries.append(Entry(dn: dn, attributes: attributes)) }
        }
        return entries
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs a program and returns its standard output; throws on a non-zero exit status
    /// (ldapsearch's 32, no such object, included).
    package static func run(_ program: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(program) exited \(process.terminationStatus): \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
