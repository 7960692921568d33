import CCrypt
import Foundation
import NovaDirsvc

/// The users of `[http] basic_auth_file` (HTTP Basic, what keystoneauth's `http_basic` plugin
/// sends): one `user:hash` a line, the hash in crypt(3) form as `openssl passwd -6` or
/// `mkpasswd -m yescrypt` writes it. Passwords are never stored; a check hashes what was sent
/// with the stored hash's salt and compares in constant time, also for an unknown user (so the
/// time does not tell which part was wrong).
struct BasicUsers: Sendable {
    private let hashes: [String: String]

    init(file: String) throws {
        let text = try Configuration.readSecretFile(file, what: "HTTP basic auth file")
        var hashes: [String: String] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = trimmed.firstIndex(of: ":"), colon != trimmed.startIndex,
                trimmed[trimmed.index(after: colon)...].hasPrefix("$")
            else {
                throw ConfigurationError("\(file):\(number + 1): expected user:$id$salt$hash (openssl passwd -6)")
            }
            hashes[String(trimmed[..<colon])] = String(trimmed[trimmed.index(after: colon)...])
        }
        guard !hashes.isEmpty else { throw ConfigurationError("\(file): no users") }
        self.hashes = hashes
    }

    /// Whether an `Authorization: Basic ...` value names a user with the right password.
    func accepts(_ authorization: String) -> Bool {
        guard authorization.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return false }
        let user = String(text[..<colon])
        let password = String(text[text.index(after: colon)...])
        let stored = hashes[user] ?? Self.decoy
        guard let computed = Self.crypt(password, setting: stored) else { return false }
        return HTTPFrontend.constantTimeEqual(Array(computed.utf8), Array(stored.utf8)) && hashes[user] != nil
    }

    /// A hash no password gives, hashed against for an unknown user.
    private static let decoy = "$6$nova-dirsvc$" + String(repeating: "x", count: 86)

    private static func crypt(_ password: String, setting: String) -> String? {
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer { data.deallocate() }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let result = crypt_rn(password, setting, data, Int32(MemoryLayout<crypt_data>.size)) else { return nil }
        return String(cString: result)
    }
}
