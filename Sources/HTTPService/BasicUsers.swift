import CCrypt
import Foundation
import NovaDirsvc

/// The users of `[http] basic_auth_file` (HTTP Basic, what keystoneauth's `http_basic` plugin
/// sends): one `user:hash` a line, the hash in crypt(3) form as `openssl passwd -6` or
/// `mkpasswd -m yescrypt` writes it. Passwords are never stored; a check hashes what was sent
/// with the stored hash's salt and compares in constant time, also for an unknown user (so the
/// time does not tell which part was wrong): an unknown user's password is hashed against the
/// configured hash that costs the most to check (`decoy`), so that with yescrypt or many rounds
/// of SHA-512 an unknown user is not answered in a fraction of a known one's time.
struct BasicUsers: Sendable {
    private let hashes: [String: String]
    /// The configured hash whose check costs the most, measured once per kind at load.
    private let decoy: String

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
        self.decoy = Self.dearest(of: Array(hashes.values))
    }

    /// Of `hashes`, the one whose check takes longest: one of each kind (scheme and cost
    /// parameters, not the salt: `$6$rounds=N$`, `$y$j9T$`, `$2b$12$`) is timed.
    static func dearest(of hashes: [String]) -> String {
        var kinds: [String: String] = [:]
        for hash in hashes.sorted() { kinds[kind(of: hash)] = kinds[kind(of: hash)] ?? hash }
        guard kinds.count > 1 else { return kinds.values.first ?? hashes[0] }
        let clock = ContinuousClock()
        return kinds.values.max { a, b in
            clock.measure { _ = crypt("decoy", setting: a) } < clock.measure { _ = crypt("decoy", setting: b) }
        } ?? hashes[0]
    }

    /// The part of a crypt(3) hash that decides its cost: the scheme, and its cost field when
    /// it has one.
    static func kind(of hash: String) -> String {
        let fields = hash.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count > 2 else { return hash }
        let scheme = String(fields[1])
        switch scheme {
        case "5", "6": return fields[2].hasPrefix("rounds=") ? "$\(scheme)$\(fields[2])$" : "$\(scheme)$"
        case "y", "gy", "7", "2a", "2b", "2y": return "$\(scheme)$\(fields[2])$"
        default: return "$\(scheme)$"
        }
    }

    /// Whether an `Authorization: Basic ...` value names a user with the right password.
    func accepts(_ authorization: String) -> Bool {
        guard authorization.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return false }
        let user = String(text[..<colon])
        let password = String(text[text.index(after: colon)...])
        let stored = hashes[user] ?? decoy
        guard let computed = Self.crypt(password, setting: stored) else { return false }
        return HTTPFrontend.constantTimeEqual(Array(computed.utf8), Array(stored.utf8)) && hashes[user] != nil
    }

    private static func crypt(_ password: String, setting: String) -> String? {
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer { data.deallocate() }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let result = crypt_rn(password, setting, data, Int32(MemoryLayout<crypt_data>.size)) else { return nil }
        return String(cString: result)
    }
}
