/// The HTTP side of `nova-dirsvc serve`: section `[http]` (or NOVA_DIRSVC_HTTP_*); each key's
/// kind, default and meaning: Configuration+Declarations.swift.
extension Configuration {
    package struct HTTP: Sendable {
        package var host: String
        package var port: Int
        /// The file holding the token every route but /healthz asks for (read at start,
        /// refused when readable by others).
        package var tokenFile: String?
        /// HTTP Basic users (`user:crypt-hash` a line), read at start, refused when readable by others.
        package var basicAuthFile: String?
        package var tlsCertificateFile: String?
        package var tlsKeyFile: String?
        package var allowInsecureListen: Bool
        /// Requests being worked on at once; one more is answered 503 at once.
        package var maxInFlight: Int
        /// The largest request body.
        package static let maxBodySize = 1 << 20

        package var tls: Bool { tlsCertificateFile != nil }

        /// The token (read from its file, one trailing newline dropped).
        package func token() throws -> String? {
            guard let tokenFile else { return nil }
            let token = try Configuration.readPasswordFile(tokenFile, what: "HTTP token file")
            // a client sends it in a header: a line ending, a space or a control character in it
            // (a second newline, a NUL) makes a token no client can present
            if let bad = token.unicodeScalars.first(where: { $0.value < 0x21 || $0.value == 0x7F }) {
                throw ConfigurationError(
                    "the HTTP token file \(tokenFile) holds \(bad.value == 0x20 ? "a space" : "a control character (U+\(String(bad.value, radix: 16, uppercase: true).leftPadded(4)))") "
                        + "after one trailing newline is dropped: no client can send that in X-Auth-Token; write the token alone on one line"
                )
            }
            return token
        }

        /// nil when `listen` is not set (no HTTP side).
        init?(_ settings: Settings) throws {
            let source = settings.origin
            guard let listen = settings[.httpListen] else { return nil }
            let (host, portText): (Substring, Substring)
            if listen.hasPrefix("["), let close = listen.firstIndex(of: "]") {  // [::1]:8849
                host = listen[listen.index(after: listen.startIndex)..<close]
                portText = listen[listen.index(after: close)...].drop { $0 == ":" }
            } else if let colon = listen.lastIndex(of: ":") {
                host = listen[..<colon]
                portText = listen[listen.index(after: colon)...]
            } else {
                throw ConfigurationError("\(source(.httpListen)): \"\(listen)\" is not HOST:PORT (e.g. 127.0.0.1:8849)")
            }
            guard let port = Int(portText), (0...65535).contains(port), !host.isEmpty else {
                throw ConfigurationError("\(source(.httpListen)): \"\(listen)\" is not HOST:PORT (e.g. 127.0.0.1:8849)")
            }
            self.host = String(host)
            self.port = port
            tokenFile = settings[.httpTokenFile]
            basicAuthFile = settings[.httpBasicAuthFile]
            tlsCertificateFile = settings[.httpTLSCert]
            tlsKeyFile = settings[.httpTLSKey]
            guard (tlsCertificateFile == nil) == (tlsKeyFile == nil) else {
                throw ConfigurationError("\(source(.httpTLSCert)) and \(source(.httpTLSKey)) go together: set both or neither")
            }
            allowInsecureListen = try settings.truth(.httpAllowInsecureListen)
            maxInFlight = try settings.wholeNumber(.httpMaxInFlight)
            // The same policy as the insecure bind: plain HTTP carries tokens and records in
            // the clear, so only on loopback unless the operator says otherwise in so many words.
            if !tls && !allowInsecureListen && !Self.isLoopback(self.host) {
                throw ConfigurationError(
                    "\(source(.httpListen)): refusing to listen on \(self.host) without TLS: "
                        + "set tls_cert and tls_key, listen on loopback, or allow_insecure_listen = true")
            }
        }

        static func isLoopback(_ host: String) -> Bool {
            Configuration.isLoopback("ldap://" + (host.contains(":") ? "[\(host)]" : host))
        }
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
