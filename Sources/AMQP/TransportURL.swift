/// oslo.messaging's `transport_url`, as an operator copies it from nova.conf:
/// `rabbit://USER:PASS@HOST1:5672,USER:PASS@HOST2:5672/VHOST` (several hosts: failover, tried in
/// order). User, password and virtual host are percent-decoded; a host without credentials
/// takes the first host's; the port defaults to 5672; an empty virtual host is "/".
package struct TransportURL: Sendable, CustomStringConvertible {
    package struct Host: Sendable {
        package var host: String
        package var port: Int
        package var user: String
        package var password: Secret
    }
    package var hosts: [Host]
    package var virtualHost: String
    /// amqps:// or `?ssl=1`: TLS was asked for.
    package var tls: Bool

    package struct Invalid: Error, CustomStringConvertible {
        package let description: String
    }

    package init(parsing text: String) throws {
        guard let schemeEnd = text.firstRange(of: "://") else {
            throw Invalid(description: "transport_url: not a URL (rabbit://USER:PASS@HOST:PORT/VHOST)")
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard ["rabbit", "amqp", "amqps"].contains(scheme) else {
            throw Invalid(description: "transport_url: the scheme \(scheme) is not rabbit://, amqp:// or amqps://")
        }
        var rest = text[schemeEnd.upperBound...]
        var query = ""
        if let mark = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: mark)...])
            rest = rest[..<mark]
        }
        let slash = rest.firstIndex(of: "/")
        let hostList = slash.map { rest[..<$0] } ?? rest
        let path = slash.map { String(rest[rest.index(after: $0)...]) } ?? ""
        virtualHost = path.isEmpty ? "/" : try Self.decode(path, "virtual host")
        tls = scheme == "amqps" || query.split(separator: "&").contains { ["ssl=1", "ssl=true", "ssl=True"].contains($0) }
        var hosts: [Host] = []
        for entry in hostList.split(separator: ",", omittingEmptySubsequences: false) {
            var user: String? = nil
            var password: String? = nil
            var address = entry[...]
            if let at = entry.lastIndex(of: "@") {
                let credentials = entry[..<at]
                address = entry[entry.index(after: at)...]
                if let colon = credentials.firstIndex(of: ":") {
                    user = try Self.decode(String(credentials[..<colon]), "user")
                    password = try Self.decode(String(credentials[credentials.index(after: colon)...]), "password")
                } else {
                    user = try Self.decode(String(credentials), "user")
                }
            }
            var host = String(address)
            var port = 5672
            if host.hasPrefix("[") {  // [IPv6]:port
                guard let close = host.firstIndex(of: "]") else { throw Invalid(description: "transport_url: a bad IPv6 host") }
                let after = host[host.index(after: close)...]
                if after.hasPrefix(":") { port = try Self.port(String(after.dropFirst())) }
                host = String(host[host.index(after: host.startIndex)..<close])
            } else if let colon = host.lastIndex(of: ":") {
                port = try Self.port(String(host[host.index(after: colon)...]))
                host = String(host[..<colon])
            }
            guard !host.isEmpty else { throw Invalid(description: "transport_url: a host is missing") }
            hosts.append(
                Host(
                    host: host, port: port, user: user ?? hosts.first?.user ?? "guest",
                    password: Secret(password ?? hosts.first?.password.value ?? "guest")))
        }
        self.hosts = hosts
    }

    /// The URL without passwords, for messages and logs.
    package var description: String {
        let list = hosts.map { "\($0.user):<redacted>@\($0.host):\($0.port)" }.joined(separator: ",")
        return "\(tls ? "amqps" : "rabbit")://\(list)/\(virtualHost == "/" ? "" : virtualHost)"
    }

    /// One connection configuration a host, in order.
    package func configurations(
        connectTimeout: Duration, heartbeat: Int = 60, tls: Bool = false,
        caCertificateFile: String? = nil
    ) -> [AMQPConnection.Configuration] {
        hosts.map {
            .init(
                host: $0.host, port: $0.port, virtualHost: virtualHost, user: $0.user, password: $0.password,
                connectTimeout: connectTimeout, heartbeat: heartbeat, tls: tls || self.tls,
                caCertificateFile: caCertificateFile)
        }
    }

    private static func port(_ text: String) throws -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw Invalid(description: "transport_url: \"\(text)\" is not a port")
        }
        return port
    }

    private static func decode(_ text: String, _ what: String) throws -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else {
                    throw Invalid(description: "transport_url: a bad %-escape in the \(what)")
                }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw Invalid(description: "transport_url: the \(what) is not UTF-8")
        }
        return decoded
    }
}
