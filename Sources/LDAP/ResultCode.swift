/// An LDAP result code (RFC 4511 section 4.1.9), or one of libldap's negative client-side codes
/// (`LDAP_SERVER_DOWN`, `LDAP_TIMEOUT`, ...), with Swift names.
///
/// Like swift-system's `Errno`, it matches in `catch` clauses:
///
///     do { try connection.delete(dn) }
///     catch LDAPResultCode.noSuchObject { /* already gone */ }
package struct LDAPResultCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    package let rawValue: Int32
    package init(rawValue: Int32) { self.rawValue = rawValue }
    init(_ rawValue: Int32) { self.rawValue = rawValue }

    // Server result codes (RFC 4511, RFC 4526 and friends).
    package static let success = Self(0)
    package static let operationsError = Self(1)
    package static let protocolError = Self(2)
    package static let timeLimitExceeded = Self(3)
    package static let sizeLimitExceeded = Self(4)
    package static let compareFalse = Self(5)
    package static let compareTrue = Self(6)
    package static let authMethodNotSupported = Self(7)
    package static let strongerAuthRequired = Self(8)
    package static let referral = Self(10)
    package static let adminLimitExceeded = Self(11)
    package static let unavailableCriticalExtension = Self(12)
    package static let confidentialityRequired = Self(13)
    package static let saslBindInProgress = Self(14)
    package static let noSuchAttribute = Self(16)
    package static let undefinedAttributeType = Self(17)
    package static let inappropriateMatching = Self(18)
    package static let constraintViolation = Self(19)
    package static let attributeOrValueExists = Self(20)
    package static let invalidAttributeSyntax = Self(21)
    package static let noSuchObject = Self(32)
    package static let aliasProblem = Self(33)
    package static let invalidDNSyntax = Self(34)
    package static let aliasDereferencingProblem = Self(36)
    package static let inappropriateAuthentication = Self(48)
    package static let invalidCredentials = Self(49)
    package static let insufficientAccessRights = Self(50)
    package static let busy = Self(51)
    package static let unavailable = Self(52)
    package static let unwillingToPerform = Self(53)
    package static let loopDetect = Self(54)
    package static let namingViolation = Self(64)
    package static let objectClassViolation = Self(65)
    package static let notAllowedOnNonLeaf = Self(66)
    package static let notAllowedOnRDN = Self(67)
    package static let entryAlreadyExists = Self(68)
    package static let objectClassModsProhibited = Self(69)
    package static let affectsMultipleDSAs = Self(71)
    package static let other = Self(80)

    // libldap's client-side codes (never sent by a server).
    package static let serverDown = Self(-1)
    package static let localError = Self(-2)
    package static let encodingError = Self(-3)
    package static let decodingError = Self(-4)
    package static let timeout = Self(-5)
    package static let authUnknown = Self(-6)
    package static let filterError = Self(-7)
    package static let userCancelled = Self(-8)
    package static let paramError = Self(-9)
    package static let noMemory = Self(-10)
    package static let connectError = Self(-11)
    package static let notSupported = Self(-12)
    package static let controlNotFound = Self(-13)
    package static let noResultsReturned = Self(-14)
    package static let moreResultsToReturn = Self(-15)
    package static let clientLoop = Self(-16)
    package static let referralLimitExceeded = Self(-17)

    private static let names: [Int32: String] = [
        0: "success", 1: "operationsError", 2: "protocolError", 3: "timeLimitExceeded",
        4: "sizeLimitExceeded", 5: "compareFalse", 6: "compareTrue", 7: "authMethodNotSupported",
        8: "strongerAuthRequired", 10: "referral", 11: "adminLimitExceeded",
        12: "unavailableCriticalExtension", 13: "confidentialityRequired", 14: "saslBindInProgress",
        16: "noSuchAttribute", 17: "undefinedAttributeType", 18: "inappropriateMatching",
        19: "constraintViolation", 20: "attributeOrValueExists", 21: "invalidAttributeSyntax",
        32: "noSuchObject", 33: "aliasProblem", 34: "invalidDNSyntax", 36: "aliasDereferencingProblem",
        48: "inappropriateAuthentication", 49: "invalidCredentials", 50: "insufficientAccessRights",
        51: "busy", 52: "unavailable", 53: "unwillingToPerform", 54: "loopDetect",
        64: "namingViolation", 65: "objectClassViolation", 66: "notAllowedOnNonLeaf",
        67: "notAllowedOnRDN", 68: "entryAlreadyExists", 69: "objectClassModsProhibited",
        71: "affectsMultipleDSAs", 80: "other",
        -1: "serverDown", -2: "localError", -3: "encodingError", -4: "decodingError", -5: "timeout",
        -6: "authUnknown", -7: "filterError", -8: "userCancelled", -9: "paramError", -10: "noMemory",
        -11: "connectError", -12: "notSupported", -13: "controlNotFound", -14: "noResultsReturned",
        -15: "moreResultsToReturn", -16: "clientLoop", -17: "referralLimitExceeded",
    ]

    /// The Swift name and the number, e.g. `noSuchObject (32)`.
    package var description: String { "\(Self.names[rawValue] ?? "resultCode") (\(rawValue))" }

    /// True for the codes that mean the directory could not be reached or did not answer in
    /// time (as opposed to an answer that refused the operation).
    package var isUnavailable: Bool {
        [.serverDown, .connectError, .timeout, .busy, .unavailable].contains(self)
    }

    /// True for the codes that mean the bind was refused or the identity may not do this.
    package var isAuthorizationFailure: Bool {
        [
            .invalidCredentials, .inappropriateAuthentication, .insufficientAccessRights,
            .authMethodNotSupported, .strongerAuthRequired, .confidentialityRequired,
            .authUnknown,
        ].contains(self)
    }

    /// Matches an `LDAPError` with this code in a `catch` clause.
    package static func ~= (code: LDAPResultCode, error: any Error) -> Bool {
        (error as? LDAPError)?.code == code
    }
}
