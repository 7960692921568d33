/// A search filter (RFC 4515), built from parts so that values are always escaped.
///
///     let filter = Filter.and([.equality("objectClass", "novaInstance"),
///                              .equality("novaInstanceUUID", uuid)])
///     filter.description  // (&(objectClass=novaInstance)(novaInstanceUUID=...))
package indirect enum Filter: Hashable, Sendable, CustomStringConvertible {
    case and([Filter])
    case or([Filter])
    case not(Filter)
    /// `(attribute=value)`, value escaped.
    case equality(String, String)
    /// `(attribute=*)`
    case present(String)
    /// `(attribute=initial*any*...*final)`, each part escaped; nil/empty parts are omitted.
    case substrings(String, initial: String?, any: [String], final: String?)
    /// `(attribute>=value)` and `(attribute<=value)`, value escaped.
    case greaterOrEqual(String, String)
    case lessOrEqual(String, String)

    package var description: String {
        switch self {
        case .and(let filters): return "(&" + filters.map(\.description).joined() + ")"
        case .or(let filters): return "(|" + filters.map(\.description).joined() + ")"
        case .not(let filter): return "(!" + filter.description + ")"
        case .equality(let a, let v): return "(\(Self.checked(a))=\(Self.escape(v)))"
        case .present(let a): return "(\(Self.checked(a))=*)"
        case .greaterOrEqual(let a, let v): return "(\(Self.checked(a))>=\(Self.escape(v)))"
        case .lessOrEqual(let a, let v): return "(\(Self.checked(a))<=\(Self.escape(v)))"
        case .substrings(let a, let initial, let any, let final):
            let middle = any.filter { !$0.isEmpty }.map(Self.escape)
            return "(\(Self.checked(a))=" + (initial.map(Self.escape) ?? "") + "*"
                + middle.map { $0 + "*" }.joined() + (final.map(Self.escape) ?? "") + ")"
        }
    }

    private static func checked(_ attribute: String) -> String {
        precondition(DistinguishedName.isAttributeType(attribute), "not an attribute type: \(attribute)")
        return attribute
    }

    /// Escapes an assertion value for a filter string (RFC 4515 section 3): `*` `(` `)` `\`
    /// and NUL become `\2a` `\28` `\29` `\5c` `\00`; other control characters and DEL are
    /// escaped as `\hh` too (allowed, and readable). Everything else, including non-ASCII
    /// UTF-8, is kept as it is.
    package static func escape(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count + 8)
        for b in value.utf8 {
            switch b {
            case 0x2A, 0x28, 0x29, 0x5C, 0x00..<0x20, 0x7F: out.append(contentsOf: hexEscape(b))
            default: out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
