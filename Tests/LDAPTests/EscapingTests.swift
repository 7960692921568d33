import CLDAP
import Testing

@testable import LDAP

@Suite("RFC 4514 DN escaping")
struct DNEscapingTests {
    @Test(
        "RFC 4514 section 4 examples",
        arguments: [
            ("James \"Jim\" Smith, III", #"James \"Jim\" Smith\, III"#),
            ("Before\rAfter", #"Before\0dAfter"#),
            ("Sales", "Sales"),
            ("Lučić", "Lučić"),  // non-ASCII UTF-8 may stay as it is (RFC 4514 section 2.4)
        ])
    func rfcExamples(value: String, escaped: String) {
        #expect(DistinguishedName.escape(value) == escaped)
    }

    @Test(
        "hostile values",
        arguments: [
            (",", #"\,"#), ("+", #"\+"#), ("=", #"\="#), ("\"", #"\""#), ("\\", #"\\"#),
            ("#start", ##"\#start"##), ("mid#dle", "mid#dle"), (" lead", #"\ lead"#), ("trail ", #"trail\ "#),
            ("a b", "a b"), (" ", #"\ "#), ("<x>;", #"\<x\>\;"#), ("nul\u{0}byte", #"nul\00byte"#),
            ("tab\tnl\n", #"tab\09nl\0a"#), ("del\u{7F}", #"del\7f"#),
            ("x,ou=Services,dc=example,dc=com", #"x\,ou\=Services\,dc\=example\,dc\=com"#),
            ("a+uid=admin", #"a\+uid\=admin"#),
        ])
    func hostile(value: String, escaped: String) {
        #expect(DistinguishedName.escape(value) == escaped)
    }

    @Test("a child DN built from a hostile value is valid and adds exactly one RDN")
    func childStaysOneLevel() throws {
        let base = try DistinguishedName(validating: "ou=Instances,dc=example,dc=com")
        for value in ["x,ou=Services,dc=example,dc=com", "a+uid=admin", "#23", " x ", "\\", "=", "\u{0}", "é,é"] {
            let child = base.child("cn", value)
            let parsed = try DistinguishedName(validating: child.string)
            #expect(parsed.string.hasSuffix(",ou=Instances,dc=example,dc=com"))
            #expect(try RDNCount.of(child.string) == 3 + 1)
        }
    }

    @Test("invalid DNs are refused", arguments: ["cn", "=x", "cn=a,,dc=b", "cn=\"unterminated", "cn=a\\"])
    func invalid(dn: String) {
        #expect(throws: LDAPError.self) { try DistinguishedName(validating: dn) }
        do { _ = try DistinguishedName(validating: dn) } catch LDAPResultCode.invalidDNSyntax {
            // matched through LDAPResultCode.~=
        } catch { Issue.record("wrong error \(error)") }
    }

    @Test(
        "attribute type names",
        arguments: [
            ("cn", true), ("novaInstanceUUID", true), ("2.5.4.3", true),
            ("a-b", true), ("", false), ("1cn", false), ("cn;binary", false),
            ("cn=x", false), ("2.05.4", false), ("2.", false),
        ])
    func attributeTypes(name: String, valid: Bool) {
        #expect(DistinguishedName.isAttributeType(name) == valid)
    }
}

/// Counts RDNs by a naive split that honours backslash escapes (test-only cross-check).
enum RDNCount {
    static func of(_ dn: String) throws -> Int {
        var count = 1
        var escaped = false
        for c in dn.utf8 {
            if escaped {
                escaped = false
                continue
            }
            if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: ",") { count += 1 }
        }
        return count
    }
}

@Suite("RFC 4515 filter escaping")
struct FilterEscapingTests {
    @Test("RFC 4515 section 4 examples")
    func rfcExamples() {
        #expect(
            Filter.equality("o", "Parens R Us (for all your parenthetical needs)").description
                == #"(o=Parens R Us \28for all your parenthetical needs\29)"#)
        #expect(Filter.substrings("cn", initial: nil, any: ["*"], final: nil).description == #"(cn=*\2a*)"#)
        #expect(Filter.equality("filename", #"C:\MyFile"#).description == #"(filename=C:\5cMyFile)"#)
        #expect(Filter.equality("bin", "\u{0}\u{0}\u{0}\u{4}").description == #"(bin=\00\00\00\04)"#)
        #expect(Filter.equality("sn", "Lučić").description == "(sn=Lučić)")
        #expect(
            Filter.and([.equality("objectClass", "person"), .not(.present("mail"))]).description
                == "(&(objectClass=person)(!(mail=*)))")
    }

    @Test(
        "values that would change a filter are neutralised",
        arguments: [
            ("*", #"(cn=\2a)"#),
            ("*)(objectClass=*", #"(cn=\2a\29\28objectClass=\2a)"#),
            ("x)(|(cn=*", #"(cn=x\29\28|\28cn=\2a)"#),
            ("\\2a", #"(cn=\5c2a)"#),
            ("a\u{0}b", #"(cn=a\00b)"#),
        ])
    func injection(value: String, rendered: String) {
        #expect(Filter.equality("cn", value).description == rendered)
    }
}

@Suite("result codes")
struct ResultCodeTests {
    @Test func namesAndMatching() {
        #expect(LDAPResultCode.noSuchObject.description == "noSuchObject (32)")
        // the Swift names carry libldap's own values (ldap.h), not copies that could drift
        #expect(LDAPResultCode.serverDown.rawValue == LDAP_SERVER_DOWN)
        #expect(LDAPResultCode.timeout.rawValue == LDAP_TIMEOUT)
        #expect(LDAPResultCode.noSuchObject.rawValue == LDAP_NO_SUCH_OBJECT)
        #expect(LDAPResultCode.entryAlreadyExists.rawValue == LDAP_ALREADY_EXISTS)
        #expect(LDAPResultCode.insufficientAccessRights.rawValue == LDAP_INSUFFICIENT_ACCESS)
        #expect(LDAPResultCode.unwillingToPerform.rawValue == LDAP_UNWILLING_TO_PERFORM)
        #expect(LDAPResultCode.notAllowedOnNonLeaf.rawValue == LDAP_NOT_ALLOWED_ON_NONLEAF)
        #expect(LDAPResultCode.connectError.rawValue == LDAP_CONNECT_ERROR)
        let error: any Error = LDAPError(code: .entryAlreadyExists, operation: "add", dn: "cn=x")
        #expect(LDAPResultCode.entryAlreadyExists ~= error)
        #expect(!(LDAPResultCode.noSuchObject ~= error))
        #expect("\(error)" == #"LDAP add "cn=x" failed: entryAlreadyExists (68)"#)
    }

    @Test func passwordsNeverPrint() {
        let password = Password("s3cret-value")
        #expect("\(password)" == "<redacted>")
        #expect(!String(reflecting: Credentials.simple(dn: "cn=x", password: password)).contains("s3cret"))
    }
}

@Suite("time")
struct TimeTests {
    @Test func secondsAsMessagesShowThem() {
        #expect(Duration.milliseconds(2500).secondsText == "2.5")
        #expect(Duration.seconds(3).secondsText == "3")
        #expect(Duration.milliseconds(1250).secondsText == "1.25")
        #expect(Duration.milliseconds(5).secondsText == "0.005")
    }

    @Test func aDeadlineAlreadyPastIsATimeoutBeforeAnythingIsSent() {
        #expect {
            _ = try LDAPConnection(LDAPConnection.Configuration(uris: ["ldap://127.0.0.1:1"]), deadline: .now - .seconds(1))
        } throws: { error in
            (error as? LDAPError)?.code == .timeout && "\(error)".contains("the time budget ran out")
        }
    }
}
