import NovaDirsvc
import OpenStack

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Nova's list of every server, from its API (`reconcile --from-nova`): a Keystone token from
/// `[nova]`, the compute endpoint of its catalog, then `/servers/detail` of every project page
/// by page, each page decoded into records and handed on as it arrives (never all pages held
/// at once). Any failure before the last page ends it with an error: the reader must not act
/// on an incomplete list (it would look like deleted instances; `Reconciler.Planner` only
/// plans once the last page is in).
package enum NovaServerList {
    package static func read(_ settings: Configuration.Nova, _ body: (InstanceListDecoder.InstanceList) throws -> Void) throws {
        var decoder = InstanceListDecoder.Pages()
        try pages(settings) { page in
            let decoded = try decoder.decode(document: Data(page))
            try body(decoded.list)
            return decoded.next
        }
        try decoder.finish()
    }

    /// Every page of `/servers/detail`, in order, handed to `body` as it arrives (`body` returns
    /// the page's next link, from its decoding): also what `nova-dirsvc-serve --nova-servers`
    /// writes for `nova-dirsvc reconcile --from-nova`.
    package static func pages(_ settings: Configuration.Nova, _ body: ([UInt8]) throws -> String?) throws {
        var transferSettings = HTTPTransfer.Configuration()
        transferSettings.caFile = settings.caFile
        transferSettings.verifyTLS = !settings.insecure
        transferSettings.timeout = settings.timeout
        let transport = try HTTPTransfer(transferSettings)
        let session = try Keystone.authenticate(try credentials(settings), transport: transport)
        let servers = ComputeServers(session: session, transport: transport, pageSize: settings.pageSize)
        var marker: String? = nil
        var pages = 0
        repeat {
            let page = try servers.page(after: marker)
            pages += 1
            guard let next = try body(page) else { break }
            guard let following = ComputeServers.marker(ofNextLink: next), following != marker else {
                throw OpenStackError(.badResponse, "Nova's page \(pages) links to a next page without a new marker")
            }
            marker = following
        } while true
    }

    static func credentials(_ settings: Configuration.Nova) throws -> KeystoneCredentials {
        let user = KeystoneCredentials.UserReference(
            id: settings.userID, name: settings.username,
            domainName: settings.userDomainName, domainID: settings.userDomainID)
        let method: KeystoneCredentials.Method
        switch settings.authType {
        case .password:
            method = .password(user: user, password: try settings.secret())
        case .applicationCredential:
            method = .applicationCredential(
                id: settings.applicationCredentialID, name: settings.applicationCredentialName,
                user: settings.username != nil || settings.userID != nil ? user : nil,
                secret: try settings.secret())
        }
        var credentials = KeystoneCredentials(authURL: settings.authURL, method: method)
        credentials.projectID = settings.projectID
        credentials.projectName = settings.projectName
        credentials.projectDomainName = settings.projectDomainName
        credentials.projectDomainID = settings.projectDomainID
        credentials.regionName = settings.regionName
        credentials.interface = settings.interface
        return credentials
    }
}

/// Keystone's and Nova's refusals by their documented exit status: credentials or policy 77,
/// unreachable or failing 69, settings 64.
extension OpenStackError: ExitStatusProviding {
    package var exitStatus: ExitStatus {
        switch kind {
        case .refused: return .noPermission
        case .transport, .tls, .badResponse: return .unavailable
        case .settings: return .usage
        }
    }
}
