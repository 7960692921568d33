import Foundation
import LDAP
import Testing

@testable import NovaDirsvc

@Suite("configuration")
struct ConfigurationTests {
    func write(_ text: String, mode: Int = 0o600) throws -> String {
        let path = NSTemporaryDirectory() + "nova-dirsvc-test-\(UUID().uuidString)"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, mode_t(mode))
        return path
    }

    @Test func flagsOverEnvironmentOverFile() throws {
        let file = try write(
            """
            [DEFAULT]
            log_file = /tmp/from-file.log
            [ldap]
            uri = ldap://file.example.com ldap://file2.example.com
            base_dn = ou=File,dc=example,dc=com
            bind_dn = cn=file
            timeout = 7
            start_tls = yes
            """)
        var flags = Configuration.Settings()
        flags[.baseDN] = "ou=Flags,dc=example,dc=com"
        let configuration = try Configuration.resolve(
            flags: flags, configFile: file,
            environment: ["NOVA_DIRSVC_BIND_DN": "cn=env", "NOVA_DIRSVC_TIMEOUT": "3"])
        #expect(configuration.baseDN.string == "ou=Flags,dc=example,dc=com")
        #expect(configuration.bindDN == "cn=env")
        #expect(configuration.timeout == .seconds(3))
        #expect(configuration.uris == ["ldap://file.example.com", "ldap://file2.example.com"])
        #expect(configuration.logFile == "/tmp/from-file.log")
        #expect(configuration.startTLS)
    }

    @Test func missingOrBadBaseDN() {
        // no file (/dev/null), no environment, no flag: the base DN check itself must speak
        // (ldap.conf's BASE would count: the test machines have none)
        #expect { try Configuration.resolve(flags: .init(), configFile: "/dev/null", environment: [:]) } throws: {
            "\($0)".hasPrefix("no base DN")
        }
        var flags = Configuration.Settings()
        flags[.baseDN] = "not a dn"
        #expect(throws: ConfigurationError.self) { try Configuration.resolve(flags: flags, configFile: nil, environment: [:]) }
    }

    func configuration(uri: String, password file: String, startTLS: Bool = false, allowInsecure: Bool = false) throws -> Configuration {
        var flags = Configuration.Settings()
        flags[.baseDN] = "ou=Instances,dc=example,dc=com"
        flags[.uri] = uri
        flags[.bindDN] = "cn=svc"
        flags[.passwordFile] = file
        flags[.startTLS] = startTLS ? "true" : nil
        flags[.allowInsecureBind] = allowInsecure ? "true" : nil
        return try Configuration.resolve(flags: flags, configFile: nil, environment: [:])
    }

    @Test func passwordFile() throws {
        let good = try write("s3cret\n")
        guard
            case .simple(let dn, let password) = try configuration(uri: "ldap://127.0.0.1:389", password: good).credentials(environment: [:]
            )
        else {
            Issue.record("not a simple bind")
            return
        }
        #expect(dn == "cn=svc")
        #expect("\(password)" == "<redacted>")
        let worldReadable = try write("s3cret", mode: 0o644)
        #expect { try configuration(uri: "ldap://127.0.0.1", password: worldReadable).credentials(environment: [:]) } throws: {
            "\($0)".contains("readable or writable by other users") && !"\($0)".contains("s3cret")
        }
    }

    @Test func insecureSimpleBindIsRefused() throws {
        let file = try write("s3cret")
        #expect(throws: ConfigurationError.self) {
            try configuration(uri: "ldap://ds.example.com", password: file).credentials(environment: [:])
        }
        _ = try configuration(uri: "ldap://ds.example.com", password: file, startTLS: true).credentials(environment: [:])
        _ = try configuration(uri: "ldaps://ds.example.com", password: file).credentials(environment: [:])
        _ = try configuration(uri: "ldap://ds.example.com", password: file, allowInsecure: true).credentials(environment: [:])
        _ = try configuration(uri: "ldap://[::1]:389", password: file).credentials(environment: [:])
        _ = try configuration(uri: "ldapi://%2Frun%2Fslapd.sock", password: file).credentials(environment: [:])
        // loopback is an address literal in 127.0.0.0/8, ::1 or localhost, not a name that
        // starts with "127."
        for uri in ["ldap://127.evil.example.com", "ldap://127.0.0.1.example.com:389", "ldap://[::2]", "ldap://localhost.example.com"] {
            #expect(throws: ConfigurationError.self, "\(uri)") {
                try configuration(uri: uri, password: file).credentials(environment: [:])
            }
        }
        for uri in ["ldap://127.0.0.1", "ldap://127.8.9.10:3389", "ldap://localhost", "ldap://LOCALHOST:389", "ldap:///", "ldap://[::1]"] {
            _ = try configuration(uri: uri, password: file).credentials(environment: [:])
        }
    }
}

@Suite("configuration file")
struct ConfigurationFileTests {
    @Test func unknownKeysAndSectionsAreNamedWithTheNearestKnownOne() throws {
        let path = NSTemporaryDirectory() + "nova-dirsvc-test-\(UUID().uuidString).conf"
        try "[ldap]\nbase_dn = ou=Instances,dc=example,dc=com\ntimout = 3\n[ldpa]\nuri = ldap://x\n"
            .write(toFile: path, atomically: false, encoding: .utf8)
        let configuration = try Configuration.resolve(flags: .init(), configFile: path, environment: [:])
        #expect(configuration.timeout == .seconds(5))  // the typo did not set it
        #expect(configuration.uris.isEmpty || configuration.uris != ["ldap://x"])
        #expect(configuration.warnings.count == 2)
        #expect(configuration.warnings[0].hasSuffix(":3: unknown key \"timout\" in [ldap], ignored (did you mean \"timeout\"?)"))
        #expect(configuration.warnings[1].hasSuffix(":4: unknown section [ldpa], ignored (did you mean [ldap]?)"))
    }

    @Test func aCommentAfterAValueIsRefusedWithTheLineAndWhy() {
        #expect { try ConfigurationFile.parse("[http]\nlisten = 127.0.0.1:8849   # HOST:PORT\n", path: "t.conf") } throws: {
            "\($0)".contains("t.conf:2: listen") && "\($0)".contains("\"# HOST:PORT\" after the value")
                && "\($0)".contains("lines of their own")
        }
        #expect((try? ConfigurationFile.parse("[ldap]\n# a comment\n; another\nbase_dn = ou=x#1,dc=example\n", path: "t.conf")) != nil)
    }

    @Test func unreadableFilesSayWhy() throws {
        #expect { try Configuration.resolve(flags: .init(), configFile: "/nonexistent/x.conf", environment: [:]) } throws: {
            "\($0)".hasSuffix("it does not exist")
        }
        #expect { try Configuration.resolve(flags: .init(), configFile: NSTemporaryDirectory(), environment: [:]) } throws: {
            "\($0)".hasSuffix("it is not a regular file")
        }
    }
}

@Suite("the example configuration")
struct ExampleConfigurationTests {
    @Test func itUsesOnlyKnownKeysAndSections() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/config/nova-dirsvc.conf").path
        let file = try ConfigurationFile.read(path)
        #expect(file.warnings == [])
        #expect(file.settings[.baseDN] == "ou=Instances,dc=example,dc=com")
        #expect(file.settings[.timeout] == "5")
        #expect(file.settings[.amqpTransportURLFile] == "/etc/nova-dirsvc/transport_url")
        #expect(file.settings[.amqpExchange] == "nova")
        #expect(file.settings[.httpListen] == "127.0.0.1:8849")
        let configuration = try Configuration(file.settings)  // and every value passes its check
        #expect(configuration.uris == ["ldaps://ds1.example.com", "ldaps://ds2.example.com"])
        #expect(configuration.bus?.queue == "nova-dirsvc" && configuration.http?.port == 8849)
        #expect(configuration.nova == nil)  // auth_url is commented out
    }

    /// Every INI block the README and the docs show (indented, starting with a [section] line)
    /// parses, with known keys only: an operator copies them.
    @Test func theREADMEsBlocksParse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let docs = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
        var lines: [Substring] = []
        for page in ["README.md"] + docs.sorted() {
            lines +=
                try String(contentsOfFile: root.appendingPathComponent(page).path, encoding: .utf8)
                .split(separator: "\n", omittingEmptySubsequences: false) + [""]
        }
        var blocks: [String] = []
        var current: [Substring]? = nil
        for line in lines {
            if line.hasPrefix("    ["), line.hasSuffix("]") {
                current = [line.dropFirst(4)]
                continue
            }
            if current != nil, line.hasPrefix("    ") {
                current!.append(line.dropFirst(4))
                continue
            }
            if let block = current {
                blocks.append(block.joined(separator: "\n"))
                current = nil
            }
        }
        #expect(!blocks.isEmpty)
        for block in blocks {
            let file = try ConfigurationFile.parse(block + "\n", path: "README.md")
            #expect(file.warnings == [], "\(block)")
        }
    }
}
