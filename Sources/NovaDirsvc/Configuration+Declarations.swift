/// The one declaration of every setting: what kind of value it takes, its default, its meaning
/// and what the example configuration shows. The parsers (`Configuration.init`, `Bus`, `HTTP`,
/// `Nova`) read defaults and ranges from here, the flags' `--help` is this text, and
/// `nova-dirsvc settings` renders examples/config/nova-dirsvc.conf and docs/settings.md from it
/// (a test compares both files with what it renders: edit here, then regenerate them).
extension Configuration.Key {
    package struct Declaration: Sendable {
        package enum Kind: Sendable, Equatable {
            /// A name, a DN, a URL: taken as written.
            case text
            /// A file or a directory.
            case path
            /// true or false (also 1/0, yes/no, on/off); unset is the default.
            case truth
            /// A number of seconds in the range; `moreThanZero`: without its lower bound 0.
            case seconds(ClosedRange<Double>, moreThanZero: Bool = false)
            /// A whole number in the range.
            case wholeNumber(ClosedRange<Int>)
            /// One of the words (any case).
            case choice([String])
            /// Several, separated by spaces or commas.
            case list
        }

        package var kind: Kind
        /// What applies when the setting is not set, as it would be written in the file; nil:
        /// nothing (the feature is off, or the value comes from elsewhere: `defaultNote`).
        package var defaultValue: String?
        /// When there is no plain default: where the value comes from instead.
        package var defaultNote: String?
        /// What it means (one or a few sentences): the flag's help, the example's comment.
        package var help: String
        /// The value examples/config/nova-dirsvc.conf sets (uncommented); nil: shown commented,
        /// with its default.
        package var example: String?
        /// Whether it has a command-line flag (`flag`): the directory's connection settings. The
        /// rest are in the file or the environment only (the bus's transport URL holds a password).
        package var hasFlag = false
        /// What `--help` calls the value when the kind's word does not say enough (`uri`, `dn`).
        package var valueWord: String? = nil
        /// The word `--help` shows for the value: `seconds`, `path`, ...
        package var valueName: String {
            if let valueWord { return valueWord }
            switch kind {
            case .text: return "value"
            case .path: return "path"
            case .truth: return "true|false"
            case .seconds: return "seconds"
            case .wholeNumber: return "number"
            case .choice(let words): return words.joined(separator: "|")
            case .list: return "names"
            }
        }
        /// What `kind` accepts, in words: for an error message and the reference.
        package var accepts: String {
            switch kind {
            case .text: "text"
            case .path: "a path"
            case .list: "one or more, separated by spaces or commas"
            case .truth: "true or false"
            case .seconds(let range, let moreThanZero):
                moreThanZero
                    ? "a number of seconds more than \(range.lowerBound.plain) and at most \(range.upperBound.plain)"
                    : "a number of seconds from \(range.lowerBound.plain) to \(range.upperBound.plain)"
            case .wholeNumber(let range): "a whole number from \(range.lowerBound) to \(range.upperBound)"
            case .choice(let words): words.dropLast().joined(separator: ", ") + " or " + words[words.count - 1]
            }
        }
    }

    /// This setting's declaration.
    package var declaration: Declaration {
        typealias D = Declaration
        switch self {
        // [ldap]
        case .uri:
            return D(
                kind: .list, defaultNote: "ldap.conf's URI",
                help: "LDAP URIs (ldap://, ldaps://, ldapi://), tried in order: failover between the suppliers of a "
                    + "replicated topology. The flag may be repeated.",
                example: "ldaps://ds1.example.com ldaps://ds2.example.com", hasFlag: true, valueWord: "uri")
        case .baseDN:
            return D(
                kind: .text, defaultNote: "ldap.conf's BASE; required",
                help: "The container of the instance entries (cn=<instance UUID>,<base DN>).",
                example: "ou=Instances,dc=example,dc=com", hasFlag: true, valueWord: "dn")
        case .bindDN:
            return D(
                kind: .text,
                help: "DN for a simple bind: the least-privilege account of examples/389ds/service-account.ldif.",
                example: "uid=nova-dirsvc,ou=Services,dc=example,dc=com", hasFlag: true, valueWord: "dn")
        case .passwordFile:
            return D(
                kind: .path, defaultNote: "the password in NOVA_DIRSVC_PASSWORD",
                help: "File holding the bind password; refused when other users can read it (chmod 0600, owner nova).",
                example: "/etc/nova-dirsvc/password", hasFlag: true)
        case .caCert:
            return D(
                kind: .path, defaultNote: "ldap.conf's TLS_CACERT, else the system's CAs",
                help: "PEM file of the CA certificate(s) that sign the directory's certificate (always verified).",
                example: "/etc/pki/tls/certs/ds-ca.pem", hasFlag: true)
        case .startTLS:
            return D(
                kind: .truth, defaultValue: "false",
                help: "For ldap:// URIs: StartTLS before the bind (a failure is an error, never a plaintext fallback).",
                hasFlag: true)
        case .saslMech:
            return D(
                kind: .choice(Configuration.saslMechanisms),
                help: "SASL bind instead of bind_dn and password_file: EXTERNAL (ldapi://, client certificate) or "
                    + "GSSAPI (Kerberos, see docs/security.md).",
                hasFlag: true)
        case .saslSSFMin:
            return D(
                kind: .wholeNumber(0...256), defaultValue: "56",
                help: "The least security strength (bits) a SASL bind must end with, from TLS or GSSAPI's own "
                    + "layer; 0 allows clear text.",
                hasFlag: true)
        case .timeout:
            return D(
                kind: .seconds(0...3600, moreThanZero: true), defaultValue: "5",
                help: "The time budget of one command's directory work (connect, bind, write; all URIs together).",
                example: "5", hasFlag: true)
        case .logFile:
            return D(
                kind: .path, defaultValue: "/var/log/nova-dirsvc/events.log",
                help: "The event log: one JSON line per event (time, action, record, outcome). Writable by the nova user.",
                example: "/var/log/nova-dirsvc/events.log", hasFlag: true)
        case .spoolDir:
            return D(
                kind: .path, defaultValue: "/var/spool/nova-dirsvc",
                help: "Where events wait while the directory is unavailable (flush replays them).",
                example: "/var/spool/nova-dirsvc", hasFlag: true)
        case .allowInsecureBind:
            return D(
                kind: .truth, defaultValue: "false",
                help: "Allow a simple bind over unencrypted ldap:// to a host other than loopback.", hasFlag: true)
        case .insecureNoTLSVerify:
            return D(
                kind: .truth, defaultValue: "false",
                help: "Do not verify the directory's TLS certificate. Insecure: for testing only.", hasFlag: true)
        case .serverBackoff:
            return D(
                kind: .seconds(0...86400), defaultValue: "30",
                help: "With several URIs: how long a server that failed is passed over by every nova-dirsvc "
                    + "process of this machine.")
        case .failbackSettle:
            return D(
                kind: .seconds(0...86400), defaultValue: "60",
                help: "With several URIs: how long after a failover the servers before the one that answered must "
                    + "go without a failure before writes go back to them (replication catching up).")

        // [amqp]
        case .amqpTransportURLFile:
            return D(
                kind: .path,
                help: "`nova-dirsvc serve`: a file holding nova.conf's transport URL ([oslo_messaging_notifications] "
                    + "or [DEFAULT] transport_url), refused when other users can read it. serve connects to the "
                    + "first host that answers (the last good one first).",
                example: "/etc/nova-dirsvc/transport_url")
        case .amqpTransportURL:
            return D(
                kind: .text,
                help: "The transport URL itself (rabbit://nova:SECRET@mq1:5672,nova:SECRET@mq2:5672/): only when "
                    + "this file is not readable by others. Set this or transport_url_file.")
        case .amqpExchange:
            return D(
                kind: .text, defaultValue: "nova",
                help: "nova.conf's [DEFAULT] control_exchange. serve only looks it up (it never declares Nova's "
                    + "exchange) and waits while it is not there.",
                example: "nova")
        case .amqpTopics:
            return D(
                kind: .list, defaultValue: "versioned_notifications",
                help: "nova.conf's [oslo_messaging_notifications] topics: versioned_notifications (or notifications "
                    + "for the legacy format).",
                example: "versioned_notifications")
        case .amqpPriorities:
            return D(kind: .list, defaultValue: "info", help: "The priorities bound for each topic.", example: "info")
        case .amqpQueue:
            return D(
                kind: .text, defaultValue: "nova-dirsvc",
                help: "The service's own queue, bound to <topic>.<priority>: never oslo.messaging's own "
                    + "versioned_notifications.info (refused). Notifications sent while serve is down wait in it.",
                example: "nova-dirsvc")
        case .amqpQueueType:
            return D(
                kind: .choice(Configuration.Bus.QueueType.allCases.map(\.rawValue)), defaultValue: "quorum",
                help: "quorum (replicated on the cluster's nodes: survives the loss of one) or classic (on one node).",
                example: "quorum")
        case .amqpDeliveryLimit:
            return D(
                kind: .wholeNumber(1...1000), defaultValue: "20",
                help: "Quorum queues: deliveries of one message before the broker moves it to the dead-letter queue.")
        case .amqpDeadLetterQueue:
            return D(
                kind: .text, defaultNote: "<queue>.dead",
                help: "Where a message that could be neither applied nor kept ends.")
        case .amqpMaxMessageBytes:
            return D(
                kind: .wholeNumber(4096...(256 << 20)), defaultValue: "1048576",
                help: "A larger message (on the wire or decompressed) is kept in failed/ with the reason, never read "
                    + "whole. Messages compressed by oslo.messaging (kombu_compression) are decoded.")
        case .amqpSingleActiveConsumer:
            return D(
                kind: .truth, defaultValue: "true",
                help: "Of several serves on one queue, one receives (in order) and the others wait to take over; "
                    + "false: they share the work as competing consumers (order then kept per process only).")
        case .amqpPrefetch:
            return D(
                kind: .wholeNumber(1...65535), defaultValue: "64",
                help: "How many messages are taken before they are acknowledged (the most written at once).")
        case .amqpHeartbeat:
            return D(kind: .wholeNumber(0...3600), defaultValue: "30", help: "AMQP heartbeat in seconds (0: none).")
        case .amqpSSL:
            return D(kind: .truth, defaultValue: "false", help: "TLS to the broker (as amqps:// in the URL).")
        case .amqpCACert:
            return D(
                kind: .path, defaultNote: "the system's CAs",
                help: "PEM file of the CA certificate(s) that sign the broker's certificate (always verified).")
        case .amqpDeclareExchange:
            return D(
                kind: .truth, defaultValue: "false",
                help: "Declare Nova's exchange (with durable and auto_delete) instead of only looking it up. A "
                    + "declaration with properties other than Nova's makes every Nova publish fail (406).")
        case .amqpDurable:
            return D(
                kind: .truth, defaultValue: "false",
                help: "With declare_exchange: the exchange is durable (as nova.conf's amqp_durable_queues or "
                    + "rabbit_quorum_queue makes it).")
        case .amqpAutoDelete:
            return D(
                kind: .truth, defaultValue: "false",
                help: "With declare_exchange: the exchange is auto-deleted (as nova.conf's amqp_auto_delete makes it).")

        // [http]
        case .httpListen:
            return D(
                kind: .text, defaultNote: "no HTTP side",
                help: "`nova-dirsvc serve`: HOST:PORT of the HTTP side (POST the record, DELETE by UUID, Nova's "
                    + "DynamicJSON vendordata, /healthz, /metrics); loopback unless TLS or allow_insecure_listen.",
                example: "127.0.0.1:8849")
        case .httpTokenFile:
            return D(
                kind: .path,
                help: "File holding the token every route but /healthz asks for (X-Auth-Token or Authorization: "
                    + "Bearer); refused when other users can read it.",
                example: "/etc/nova-dirsvc/http-token")
        case .httpBasicAuthFile:
            return D(
                kind: .path,
                help: "HTTP Basic users, `user:$6$...` a line (openssl passwd -6); refused when other users can read it.")
        case .httpTLSCert:
            return D(kind: .path, help: "PEM certificate (chain) of the listener: with tls_key, HTTPS.")
        case .httpTLSKey:
            return D(kind: .path, help: "PEM private key of the listener, with tls_cert.")
        case .httpAllowInsecureListen:
            return D(
                kind: .truth, defaultValue: "false",
                help: "Allow plain HTTP on an address other than loopback (tokens and records then travel in clear).")
        case .httpMaxInFlight:
            return D(
                kind: .wholeNumber(1...10_000), defaultValue: "64",
                help: "Requests worked on at once; one more is answered 503 with Retry-After.", example: "64")

        // [nova]
        case .novaAuthURL:
            return D(
                kind: .text, defaultNote: "no Nova API",
                help: "Keystone's URL, for `reconcile --from-nova` and serve's scheduled reconcile. The [nova] "
                    + "keys are keystoneauth's: copy them from nova.conf's [service_user] or [keystone_authtoken].")
        case .novaAuthType:
            return D(
                kind: .choice(Configuration.Nova.AuthType.allCases.map(\.rawValue)), defaultValue: "password",
                help: "password (username, password_file, project_name and their domains) or "
                    + "v3applicationcredential (application_credential_id and _secret_file).")
        case .novaUsername: return D(kind: .text, help: "auth_type = password: the user's name (with user_domain_name).")
        case .novaUserID: return D(kind: .text, help: "auth_type = password: the user's ID, instead of username.")
        case .novaUserDomainName: return D(kind: .text, help: "The domain of username, by name.")
        case .novaUserDomainID: return D(kind: .text, help: "The domain of username, by ID.")
        case .novaPassword:
            return D(kind: .text, help: "The password itself: only when this file is not readable by others.")
        case .novaPasswordFile:
            return D(kind: .path, help: "File holding the password; refused when other users can read it.")
        case .novaProjectName:
            return D(
                kind: .text,
                help: "The project to scope the token to (with project_domain_name): listing every project's "
                    + "servers takes a project-scoped token with the admin role (see docs/reconcile.md).")
        case .novaProjectID: return D(kind: .text, help: "The project, by ID, instead of project_name.")
        case .novaProjectDomainName: return D(kind: .text, help: "The domain of project_name, by name.")
        case .novaProjectDomainID: return D(kind: .text, help: "The domain of project_name, by ID.")
        case .novaApplicationCredentialID:
            return D(kind: .text, help: "auth_type = v3applicationcredential: the application credential's ID.")
        case .novaApplicationCredentialName:
            return D(kind: .text, help: "The application credential by name, with username or user_id.")
        case .novaApplicationCredentialSecret:
            return D(kind: .text, help: "The secret itself: only when this file is not readable by others.")
        case .novaApplicationCredentialSecretFile:
            return D(kind: .path, help: "File holding the application credential's secret; refused when others can read it.")
        case .novaRegionName: return D(kind: .text, help: "The region whose compute endpoint is used.")
        case .novaInterface:
            return D(
                kind: .choice(["public", "internal", "admin"]), defaultValue: "public",
                help: "Which of the catalog's compute endpoints (publicURL, internalURL, adminURL are taken too).")
        case .novaCAFile:
            return D(
                kind: .path, defaultNote: "the system's CAs",
                help: "PEM file of the CA certificate(s) for Keystone and Nova (always verified unless insecure).")
        case .novaInsecure:
            return D(kind: .truth, defaultValue: "false", help: "Do not verify Keystone's and Nova's TLS certificates.")
        case .novaPageSize:
            return D(
                kind: .wholeNumber(1...10_000), defaultValue: "1000",
                help: "Servers asked for per page (Nova answers with at most its max_limit).")
        case .novaTimeout:
            return D(kind: .seconds(0...3600, moreThanZero: true), defaultValue: "60", help: "Each request's time budget.")
        case .novaReconcileInterval:
            return D(
                kind: .seconds(0...(7 * 86400)), defaultValue: "0",
                help: "serve reconciles from Nova's API this often (one serve per round); 0: never.")
        case .novaReconcileGrace:
            return D(
                kind: .seconds(0...(366 * 86400)), defaultValue: "600",
                help: "The scheduled reconcile's --grace: an entry created or modified this recently is never deleted.")
        }
    }
}

extension Configuration.Key.Section {
    /// What the section is for: the example configuration's heading comment.
    package var help: String {
        switch self {
        case .ldap:
            "The directory: every command reads it. Its keys may also be in [DEFAULT]; flags and NOVA_DIRSVC_* "
                + "variables override them, and ldap.conf's URI, BASE and TLS_CACERT fill what is unset."
        case .amqp: "`nova-dirsvc serve` only: Nova's notification bus, as nova.conf configures it (docs/serve.md)."
        case .http: "`nova-dirsvc serve` only: the HTTP side; without listen there is none (docs/http.md)."
        case .nova:
            "Nova's API through Keystone, for `reconcile --from-nova` and serve's scheduled reconcile; without "
                + "auth_url there is none (docs/reconcile.md)."
        }
    }
}

extension Double {
    /// 5 -> "5", 0.5 -> "0.5".
    var plain: String { self == rounded() && abs(self) < 1e15 ? String(Int64(self)) : String(self) }
}

/// Reading a setting by its declared kind: the text set, else the declared default, checked
/// against the kind; an error names where the value came from and what is accepted.
extension Configuration.Settings {

    /// The text set, else the declared default (nil when there is none).
    package func text(_ key: Configuration.Key) -> String? { self[key] ?? key.declaration.defaultValue }

    /// The text set, else the declared default, for a key declared with one.
    func defaulted(_ key: Configuration.Key) -> String {
        guard let text = text(key) else { preconditionFailure("\(key.rawValue) is declared without a default") }
        return text
    }

    func refused(_ key: Configuration.Key, _ value: String) -> ConfigurationError {
        ConfigurationError("\(origin(key)): \"\(value)\" is not \(key.declaration.accepts)")
    }

    /// A `.truth` setting; unset and without a default: false.
    func truth(_ key: Configuration.Key) throws -> Bool {
        guard let value = text(key) else { return false }
        switch value.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw refused(key, value)
        }
    }

    /// A `.seconds` setting, checked against its range.
    func seconds(_ key: Configuration.Key) throws -> Double {
        guard case .seconds(let range, let moreThanZero) = key.declaration.kind else { preconditionFailure("\(key) is not in seconds") }
        let value = defaulted(key)
        guard let parsed = Double(value), parsed.isFinite, range.contains(parsed), !(moreThanZero && parsed == 0) else {
            throw refused(key, value)
        }
        return parsed
    }

    /// A `.seconds` setting as a duration (to the millisecond).
    func duration(_ key: Configuration.Key) throws -> Duration { .milliseconds(Int64((try seconds(key) * 1000).rounded())) }

    /// A `.wholeNumber` setting, checked against its range.
    func wholeNumber(_ key: Configuration.Key) throws -> Int {
        guard case .wholeNumber(let range) = key.declaration.kind else { preconditionFailure("\(key) is not a whole number") }
        let value = defaulted(key)
        guard let parsed = Int(value), range.contains(parsed) else { throw refused(key, value) }
        return parsed
    }

    /// A `.choice` setting: one of its words as declared, in any case, after `normalized` (nil:
    /// unset, no default).
    func choice(_ key: Configuration.Key, normalized: (String) -> String = { $0 }) throws -> String? {
        guard case .choice(let words) = key.declaration.kind else { preconditionFailure("\(key) is not a choice") }
        guard let value = text(key) else { return nil }
        let wanted = normalized(value).lowercased()
        guard let word = words.first(where: { $0.lowercased() == wanted }) else { throw refused(key, value) }
        return word
    }

    /// A `.choice` setting declared with a default: the word set, else the default.
    func chosen(_ key: Configuration.Key, normalized: (String) -> String = { $0 }) throws -> String {
        guard let word = try choice(key, normalized: normalized) else {
            preconditionFailure("\(key.rawValue) is declared without a default")
        }
        return word
    }

    /// `chosen`, as the type whose cases the declaration lists (`T.allCases.map(\.rawValue)`).
    func chosen<T: RawRepresentable<String>>(_ key: Configuration.Key, as _: T.Type) throws -> T {
        let word = try chosen(key)
        guard let value = T(rawValue: word) else { preconditionFailure("\(key.rawValue): \(word) is not a \(T.self)") }
        return value
    }
}
