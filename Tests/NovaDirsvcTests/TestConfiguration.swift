import Foundation
import LDAP
import TestSupport

@testable import NovaDirsvc

extension Configuration {
    /// The settings of the in-process integration tests: the test 389-ds as the
    /// least-privilege service account, `container` as the base, a fresh spool and log.
    static func forTests(container: DistinguishedName) throws -> Configuration {
        let spool = NSTemporaryDirectory() + "nova-dirsvc-spool-\(UUID().uuidString)"
        var flags = Configuration.Settings()
        flags[.uri] = TestDirectory.uri
        flags[.bindDN] = TestDirectory.serviceDN
        flags[.passwordFile] = TestDirectory.servicePasswordFile
        flags[.baseDN] = container.string
        flags[.spoolDir] = spool
        flags[.logFile] = spool + ".log"
        return try Configuration.resolve(flags: flags, configFile: "/dev/null", environment: [:])
    }
}

extension InstanceRecord {
    /// A register record for a fresh instance.
    static func forTests(project: String = "admin") -> InstanceRecord {
        InstanceRecord(
            instanceUUID: UUID().uuidString.lowercased(), imageUUID: "035c2bc7-f2be-4607-afcf-c3b6237e9fe5",
            macAddresses: ["fa:16:3e:56:50:29"], projectName: project, userName: "admin",
            userRemoteAddress: "192.168.122.97")
    }
}
