import LDAP
import Testing

@testable import NovaDirsvc

/// FailureMeaning: the one classification of errors; what an event does with an error and the
/// status the caller gets come from the same row (issue 22: they were two tables that drifted).
@Suite("what an error means")
struct FailureMeaningTests {
    static let rows: [(String, any Error, Disposition, NovaDirsvc.ExitStatus)] = [
        ("server down", LDAPError(code: .serverDown, operation: "add"), .retryLater, .unavailable),
        ("time-out", LDAPError(code: .timeout, operation: "add"), .retryLater, .unavailable),
        ("bind refused", LDAPError(code: .invalidCredentials, operation: "bind"), .callerProblem, .noPermission),
        ("rights", LDAPError(code: .insufficientAccessRights, operation: "add"), .callerProblem, .noPermission),
        ("schema not loaded", LDAPError(code: .objectClassViolation, operation: "add"), .callerProblem, .usage),
        ("URI libldap cannot parse", LDAPError(code: .paramError, operation: "initialize"), .callerProblem, .usage),
        ("constraint", LDAPError(code: .constraintViolation, operation: "add"), .eventRefused, .dataError),
        ("not a leaf", LDAPError(code: .notAllowedOnNonLeaf, operation: "delete"), .eventRefused, .failure),
        ("read-only backend", LDAPError(code: .unwillingToPerform, operation: "add"), .retryLater, .failure),
        ("bad input", InputError(field: "mac_address", reason: "not a MAC address"), .eventRefused, .dataError),
        ("not ours", ForeignEntryError(dn: "cn=x"), .eventRefused, .noPermission),
        ("settings", ConfigurationError("no base DN"), .callerProblem, .usage),
        (
            "no Kerberos credentials",
            SASLClientError(mechanism: "GSSAPI", error: LDAPError(code: .localError, operation: "bind"), minimumSSF: 56),
            .callerProblem, .noPermission
        ),
        (
            "no SASL plugin for the mechanism",
            SASLClientError(mechanism: "GSSAPI", error: LDAPError(code: .authUnknown, operation: "bind"), minimumSSF: 56),
            .callerProblem, .usage
        ),
    ]

    @Test(arguments: rows.indices)
    func eachErrorHasOneMeaningThatBothReaders(_ index: Int) {
        let (name, error, disposition, status) = Self.rows[index]
        #expect(FailureMeaning(of: error) == FailureMeaning(disposition, status), "\(name)")
        #expect(Disposition(for: error) == disposition, "\(name)")
        #expect(NovaDirsvc.ExitStatus(for: error) == status, "\(name)")
        #expect(
            NovaDirsvc.ExitStatus(for: EventNotAppliedError(error: error, kept: "queued", state: .queued)) == status, "\(name): wrapped")
    }
}
