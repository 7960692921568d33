import Glibc

/// The INI configuration file: `key = value` lines in sections, `#` or `;` comments. The
/// settings live in `[ldap]` (and `[DEFAULT]`); a key or section nova-dirsvc does not know is
/// reported with the nearest known name (a typo such as `timout` would otherwise silently
/// leave the default in force).
struct ConfigurationFile {
    var settings: Configuration.Settings
    var warnings: [String]
    /// Why the file is not private ("it is readable by other users"), or nil when it is.
    var exposure: String? = nil

    /// The sections this version knows.
    static let sections = ["DEFAULT"] + Configuration.Key.Section.allCases.map(\.rawValue)

    static func read(_ path: String) throws -> ConfigurationFile {
        if path == "/dev/null" { return try parse("", path: path) }  // --config /dev/null: no file at all
        if let problem = POSIX.fileProblem(path) {
            throw ConfigurationError("cannot read the configuration file \(path): \(problem)")
        }
        guard let data = POSIX.read(path: path, limit: 1 << 20), let text = String(validating: data, as: UTF8.self) else {
            throw ConfigurationError("cannot read the configuration file \(path): not UTF-8 text")
        }
        var file = try parse(text, path: path)
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & (S_IROTH | S_IWOTH) != 0 {
            file.exposure = "it is readable or writable by other users (mode \(String(info.st_mode & 0o777, radix: 8)))"
        }
        return file
    }

    static func parse(_ text: String, path: String) throws -> ConfigurationFile {
        var section = "DEFAULT"
        var file = ConfigurationFile(settings: .init(source: { "\($0.name) in [\($0.section)] of \(path)" }), warnings: [])
        var sectionKnown = true
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmed
            let place = "\(path):\(number + 1)"
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = line.dropFirst().dropLast().trimmed
                sectionKnown = sections.contains { $0.lowercased() == section.lowercased() }
                if !sectionKnown {
                    file.warnings.append(
                        "\(place): unknown section [\(section)], ignored\(suggestion(section, among: sections, brackets: true))")
                }
                continue
            }
            guard let equals = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw ConfigurationError("\(place): expected `key = value`")
            }
            guard sectionKnown else { continue }
            let name = line[..<equals].trimmed.lowercased()
            let keySection = Configuration.Key.Section(rawValue: section.lowercased()) ?? .ldap
            guard let key = Configuration.Key(section: keySection, name: name) else {
                let known = Configuration.Key.allCases.filter { $0.section == keySection }.map(\.name)
                file.warnings.append(
                    "\(place): unknown key \"\(name)\" in [\(section)], ignored"
                        + suggestion(name, among: known, brackets: false))
                continue
            }
            let value = line[line.index(after: equals)...].trimmed
            // nova.conf's parser (oslo.config) takes the rest of the line as the value, and so
            // does this one: a `# comment` after a value would become part of it
            if let comment = value.firstRange(of: " #") ?? value.firstRange(of: "\t#") ?? value.firstRange(of: " ;") {
                throw ConfigurationError(
                    "\(place): \(name) = \(value): \"\(value[comment.lowerBound...].trimmed)\" after the value "
                        + "would be read as part of it (as nova.conf's parser reads it): put comments on lines of their own")
            }
            // [ldap] wins over [DEFAULT] whatever their order
            if section.lowercased() != "default" || file.settings[key] == nil {
                file.settings[key] = value
            }
        }
        return file
    }

    /// " (did you mean X?)" for the nearest name within two edits, or "".
    static func suggestion(_ name: String, among names: [String], brackets: Bool) -> String {
        let scored = names.map { ($0, editDistance(name.lowercased(), $0.lowercased())) }.min { $0.1 < $1.1 }
        guard let (best, distance) = scored, distance <= 2 else { return "" }
        return brackets ? " (did you mean [\(best)]?)" : " (did you mean \"\(best)\"?)"
    }

    /// Levenshtein distance.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
