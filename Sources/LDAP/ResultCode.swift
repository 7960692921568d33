/// An LDAP result code (RFC 4511 section 4.1.9), or one of libldap's negative client-side codes
/// (`LDAP_SERVER_DOWN`, `LDAP_TIMEOUT`, ...), with Swift names.
///
/// Like swift-system's `Errno`, it matches in `catch` clauses:
///
///     do { try connection.delete(dn) }
///     catch LDAPResultCode.noSuchObject { /* already gone */ }
public struct LDAPResultCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    init(_ rawValue: Int32) { self.rawValue = rawValue }

    // Server result codes (RFC 4511, RFC 4526 and friends).
    public static let success = Self(0)
    public static let operationsError = Self(1)
    public static let protocolError = Self(2)
    public static let timeLimitExceeded = Self(3)
    public static let sizeLimitExceeded = Self(4)
    public static let compareFalse = Self(5)
    public static let compareTrue = Self(6)
    public static let authMethodNotSupported = Self(7)
    public static let strongerAuthRequired = Self(8)
    public static let referral = Self(10)
    public static let adminLimitExceeded = Self(11)
    public static let unavailableCriticalExtension = Self(12)
    public static let confidentialityRequired = Self(13)
    public static let saslBindInProgress = Self(14)
    public static let noSuchAttribute = Self(16)
    public static let undefinedAttributeType = Self(17)
    public static let inappropriateMatching = Self(18)
    public static let constraintViolation = Self(19)
    public static let attributeOrValueExists = Self(20)
    public static let invalidAttributeSyntax = Self(21)
    public static let noSuchObject = Self(32)
    public static let aliasProblem = Self(33)
    public static let invalidDNSyntax = Self(34)
    public static let aliasDereferencingProblem = Self(36)
    public static let inappropriateAuthentication = Self(48)
    public static let invalidCredentials = Self(49)
    public static let insufficientAccessRights = Self(50)
    public static let busy = Self(51)
    public static let unavailable = Self(52)
    public static let unwillingToPerform = Self(53)
    public static let loopDetect = Self(54)
    public static let namingViolation = Self(64)
    public static let objectClassViolation = Self(65)
    public static let notAllowedOnNonLeaf = Self(66)
    public static let notAllowedOnRDN = Self(67)
    public static let entryAlreadyExists = Self(68)
    public static let objectClassModsProhibited = Self(69)
    public static let affectsMultipleDSAs = Self(71)
    public static let other = Self(80)

    // libldap's client-side codes (never sent by a server).
    public static let serverDown = Self(-1)
    public static let localError = Self(-2)
    public static let encodingError = Self(-3)
    public static let decodingError = Self(-4)
    public static let timeout = Self(-5)
    public static let authUnknown = Self(-6)
    public static let filterError = Self(-7)
    public static let userCancelled = Self(-8)
    public static let paramError = Self(-9)
    public static let noMemory = Self(-10)
    public static let connectError = Self(-11)
    public static let notSupported = Self(-12)
    public static let controlNotFound = Self(-13)
    public static let noResultsReturned = Self(-14)
    public static let moreResultsToReturn = Self(-15)
    public static let clientLoop = Self(-16)
    public static let referralLimitExceeded = Self(-17)

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
    public var description: String { "\(Self.names[rawValue] ?? "resultCode") (\(rawValue))" }

    /// True for the codes that mean the directory could not be reached or did not answer in
    /// time (as opposed to an answer that refused the operation).
    public var isUnavailable: Bool {
        [.serverDown, .connectError, .timeout, .busy, .unavailable].contains(self)
    }

    /// True for the codes that mean the bind was refused or the identity may not do this.
    public var isAuthorizationFailure: Bool {
        [
            .invalidCredentials, .inappropriateAuthentication, .insufficientAccessRights,
            .authMethodNotSupported, .strongerAuthRequired, .confidentialityRequired,
            .authUnknown,
        ].contains(self)
    }

    /// Matches an `LDAPError` with this code in a `catch` clause.
    public static func ~= (code: LDAPResultCode, error: any Error) -> Bool {
        (error as? LDAPError)?.code == code
    }
}
