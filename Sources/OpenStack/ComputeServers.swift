/// Nova's `GET /servers/detail` of every project, page by page (`all_tenants`, `limit`,
/// `marker`), at the microversion whose answers carry what an entry needs: 2.69, from which a
/// server in a cell that is down is listed with status UNKNOWN instead of being left out (left
/// out, it would look deleted).
package struct ComputeServers {
    package static let microversion = "2.69"

    package let session: KeystoneSession
    package let transport: HTTPTransfer
    /// Servers per page asked for (Nova answers with at most its `[api] max_limit`).
    package let pageSize: Int

    package init(session: KeystoneSession, transport: HTTPTransfer, pageSize: Int = 1000) {
        self.session = session
        self.transport = transport
        self.pageSize = pageSize
    }

    /// The page after `marker` (nil: the first), as Nova sent it.
    package func page(after marker: String?) throws(OpenStackError) -> [UInt8] {
        var base = session.computeEndpoint
        while base.hasSuffix("/") { base.removeLast() }
        var url = base + "/servers/detail?all_tenants=1&limit=\(pageSize)"
        if let marker { url += "&marker=" + Self.percentEncoded(marker) }
        let response: HTTPTransfer.Response
        do {
            response = try transport.request(
                "GET", url,
                headers: [
                    ("X-Auth-Token", session.token), ("Accept", "application/json"),
                    ("OpenStack-API-Version", "compute \(Self.microversion)"), ("X-OpenStack-Nova-API-Version", Self.microversion),
                ])
        } catch {
            throw OpenStackError(error.kind, "Nova could not be reached (nothing is changed): \(error.message)")
        }
        let shown = HTTPTransfer.withoutQuery(url)
        switch response.status {
        case 200: return response.body
        case 401:
            throw OpenStackError(.refused, "Nova (\(shown)) refused the token (401)")
        case 403:
            throw OpenStackError(
                .refused,
                "Nova (\(shown)) refused to list the servers of every project (403): the account needs "
                    + "the reader role with system scope or the admin role, as the policy "
                    + "os_compute_api:servers:detail:get_all_tenants asks (see docs/reconcile.md, \"A read-only Nova account\")")
        case 404, 406:
            throw OpenStackError(
                .settings,
                "Nova (\(shown)) answered \(response.status): is this a compute endpoint of microversion "
                    + "\(Self.microversion) or later (Stein)? \(Keystone.errorMessage(response.body))")
        case 500...:
            throw OpenStackError(
                .transport,
                "Nova (\(shown)) answered \(response.status) (nothing is changed): "
                    + Keystone.errorMessage(response.body))
        default:
            throw OpenStackError(.badResponse, "Nova (\(shown)) answered \(response.status): \(Keystone.errorMessage(response.body))")
        }
    }

    /// The `marker` of a `servers_links` next link (Nova's own URL: its host may be one this
    /// client does not use, so only the marker is taken from it).
    package static func marker(ofNextLink link: String) -> String? {
        guard let query = link.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") where pair.hasPrefix("marker=") {
            return percentDecoded(String(pair.dropFirst("marker=".count)))
        }
        return nil
    }

    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D
                || byte == 0x2E || byte == 0x5F || byte == 0x7E
            {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
