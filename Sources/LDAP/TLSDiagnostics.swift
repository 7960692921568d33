import CLDAP

/// Why a TLS handshake failed, as libldap logs it (see `cldap_tls_diagnostic_*` in shim.h).
///
/// The only Swift file that calls those shims, on purpose: they keep their text in a
/// function-local static of a `static inline` C function, and each Swift file is compiled to
/// its own object file with its own copy of such a function and of its static. Called from
/// two files, the print function would write one buffer and the reader read another.
enum TLSDiagnostics {
    private static let installed: Void = cldap_tls_diagnostic_install()

    /// Runs `body` (a connect or a StartTLS) with the TLS failure lines of this thread captured.
    static func capturing<T>(_ enabled: Bool, _ body: () throws -> T) rethrows -> T {
        installed
        cldap_tls_diagnostic_clear()
        if enabled { cldap_tls_diagnostic_capture(1) }
        defer { if enabled { cldap_tls_diagnostic_capture(0) } }
        return try body()
    }

    /// The captured lines since the last `capturing`, or nil.
    static var text: String? {
        let text = String(cString: cldap_tls_diagnostic_text())
        return text.isEmpty ? nil : text
    }
}
