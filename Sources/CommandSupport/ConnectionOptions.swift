import ArgumentParser
import NovaDirsvc

/// The connection options every command that talks to the directory takes (the CLI's and
/// `nova-dirsvc serve`'s). Each flag's name and help come from its setting's declaration
/// (`Configuration.Key`, Configuration+Declarations.swift).
package struct ConnectionOptions: ParsableArguments {
    package typealias Key = Configuration.Key

    package init() {}

    @Option(help: ArgumentHelp("Configuration file (INI) (default \(Configuration.defaultConfigFile)).", valueName: "path"))
    package var config: String?

    @Option(name: Key.uri.flagName, help: Key.uri.flagHelp) package var uri: [String] = []
    @Option(name: Key.bindDN.flagName, help: Key.bindDN.flagHelp) package var bindDN: String?
    @Option(name: Key.passwordFile.flagName, help: Key.passwordFile.flagHelp) package var passwordFile: String?
    @Option(name: Key.baseDN.flagName, help: Key.baseDN.flagHelp) package var baseDN: String?
    @Option(name: Key.caCert.flagName, help: Key.caCert.flagHelp) package var caCert: String?
    @Flag(name: Key.startTLS.flagName, help: Key.startTLS.flagHelp) package var startTLS = false
    @Option(name: Key.saslMech.flagName, help: Key.saslMech.flagHelp) package var saslMech: String?
    @Option(name: Key.saslSSFMin.flagName, help: Key.saslSSFMin.flagHelp) package var saslSSFMin: String?
    @Option(name: Key.timeout.flagName, help: Key.timeout.flagHelp) package var timeout: String?
    @Option(name: Key.logFile.flagName, help: Key.logFile.flagHelp) package var logFile: String?
    @Option(name: Key.spoolDir.flagName, help: Key.spoolDir.flagHelp) package var spoolDir: String?
    @Flag(name: Key.allowInsecureBind.flagName, help: Key.allowInsecureBind.flagHelp) package var allowInsecureBind = false
    @Flag(name: Key.insecureNoTLSVerify.flagName, help: Key.insecureNoTLSVerify.flagHelp) package var insecureNoTLSVerify = false

    /// The flags given, as settings (parsed with the file's and the environment's, by the
    /// declarations: a bad value is named as `--timeout: "x" is not ...`).
    package var settings: Configuration.Settings {
        var flags = Configuration.Settings()
        flags[.uri] = uri.isEmpty ? nil : uri.joined(separator: " ")
        flags[.bindDN] = bindDN
        flags[.passwordFile] = passwordFile
        flags[.baseDN] = baseDN
        flags[.caCert] = caCert
        flags[.startTLS] = startTLS ? "true" : nil
        flags[.saslMech] = saslMech
        flags[.saslSSFMin] = saslSSFMin
        flags[.timeout] = timeout
        flags[.logFile] = logFile
        flags[.spoolDir] = spoolDir
        flags[.allowInsecureBind] = allowInsecureBind ? "true" : nil
        flags[.insecureNoTLSVerify] = insecureNoTLSVerify ? "true" : nil
        return flags
    }

    package func resolve(strict: Bool = false) throws -> Configuration {
        let configuration = try Configuration.resolve(flags: settings, configFile: config, strict: strict)
        for warning in configuration.warnings { warn("warning: \(warning)") }
        return configuration
    }
}

extension Configuration.Key {
    /// The flag's name (`--bind-dn`).
    fileprivate var flagName: NameSpecification { .customLong(String(flag.dropFirst(2))) }

    /// The flag's help: the declaration's meaning and default.
    fileprivate var flagHelp: ArgumentHelp {
        let declaration = self.declaration
        guard declaration.kind != .truth else { return ArgumentHelp(declaration.help) }
        let fallback = declaration.defaultValue.map { " (default \($0))" } ?? declaration.defaultNote.map { " (default: \($0))" } ?? ""
        return ArgumentHelp(declaration.help + fallback, valueName: declaration.valueName)
    }
}

/// Values only, once parsed (ArgumentParser's property wrappers are not marked Sendable):
/// serve's SIGHUP reload resolves them again on another thread.
extension ConnectionOptions: @unchecked Sendable {}
