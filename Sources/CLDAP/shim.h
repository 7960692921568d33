// The C side of nova-dirsvc's LDAP layer: OpenLDAP's libldap/liblber and Cyrus SASL, by name
// (found through the system include path / pkg-config, never an absolute path).
//
// Swift imports nearly all of ldap.h directly. The shims below exist only for the few macros
// Swift cannot import (they expand to casts or to the address of a global) and for the SASL
// interaction callback, which is pointer-walking over a C array and reads most plainly in C.
#ifndef NOVA_DIRSVC_CLDAP_SHIM_H
#define NOVA_DIRSVC_CLDAP_SHIM_H

#include <ldap.h>
#include <lber.h>
#include <sasl/sasl.h>
#include <string.h>
#include <sys/time.h>
#include <sys/socket.h>

// LDAP_OPT_ON is `((void *) &ber_pvt_opt_on)`: a cast of a global's address.
static inline void *cldap_opt_on(void) { return LDAP_OPT_ON; }

// LDAP_OPT_OFF is `((void *) 0)`.
static inline void *cldap_opt_off(void) { return LDAP_OPT_OFF; }

// Message tags and search scopes: macros with casts (`((ber_tag_t) 0x64U)`), so Swift does not
// import them. The same values, as plain constants.
static const int cldap_res_search_entry = (int)LDAP_RES_SEARCH_ENTRY;
static const int cldap_res_search_reference = (int)LDAP_RES_SEARCH_REFERENCE;
static const int cldap_res_search_result = (int)LDAP_RES_SEARCH_RESULT;
static const int cldap_scope_base = (int)LDAP_SCOPE_BASE;
static const int cldap_scope_onelevel = (int)LDAP_SCOPE_ONELEVEL;
static const int cldap_scope_subtree = (int)LDAP_SCOPE_SUBTREE;

// LDAP_SASL_SIMPLE is `((char *) 0)`: the mechanism "name" that selects a simple bind.
static inline const char *cldap_sasl_simple(void) { return LDAP_SASL_SIMPLE; }

// The interaction callback for ldap_sasl_interactive_bind_s with LDAP_SASL_QUIET.
// nova-dirsvc only uses mechanisms that need no secret from this callback (EXTERNAL: the
// identity comes from the ldapi peer credentials or the TLS client certificate; GSSAPI: from
// the Kerberos credential cache). Every prompt is answered with the optional authorization
// identity passed as `defaults` (a C string, may be NULL) for SASL_CB_USER, and with the
// library's default (or empty) for anything else.
static inline int cldap_sasl_interact(LDAP *ld, unsigned flags, void *defaults, void *in) {
    (void)ld; (void)flags;
    const char *authzid = (const char *)defaults;
    for (sasl_interact_t *p = (sasl_interact_t *)in; p && p->id != SASL_CB_LIST_END; p++) {
        const char *answer = (p->id == SASL_CB_USER && authzid) ? authzid
                           : (p->defresult ? p->defresult : "");
        p->result = answer;
        p->len = (unsigned)strlen(answer);
    }
    return LDAP_SUCCESS;
}

// Why a TLS handshake failed. libldap returns only "Can't contact LDAP server" for a refused
// certificate; the cause ("TLS: peer cert untrusted or revoked (0x42)", "TLS: hostname does
// not match ...") goes only to its debug log, at the trace level. So while a connection is
// being opened (and only then: tracing every request would cost time), the debug mask is
// LDAP_DEBUG_TRACE | LDAP_DEBUG_CONNS (values from the uninstalled ldap_log.h), and this
// print function keeps the "TLS:" lines of the calling thread (the first ones,
// "; "-separated) instead of printing anything.
// (A function-local static: Swift emits the inline functions of a header, not its variables.
// Every Swift file gets its own copy of a static inline function and of its static, so only
// one Swift file, TLSDiagnostics.swift, calls these.)
static inline char *cldap_tls_diagnostic_buffer(void) {
    static __thread char buffer[256];
    return buffer;
}

static inline void cldap_tls_diagnostic_print(const char *text) {
    if (text == NULL || strncmp(text, "TLS:", 4) != 0) return;
    char *buffer = cldap_tls_diagnostic_buffer();
    size_t used = strlen(buffer);
    if (used > 0 && used < 252) { strcpy(buffer + used, "; "); used += 2; }
    if (used >= 252) return;  // keep the first lines: they name the cause
    strncpy(buffer + used, text, 255 - used);
    buffer[255] = 0;
    size_t n = strlen(buffer);
    while (n > 0 && (buffer[n - 1] == '\n' || buffer[n - 1] == '.')) buffer[--n] = 0;
}

// Installs the print function (process-wide, once); debugging stays off.
static inline void cldap_tls_diagnostic_install(void) {
    int level = 0;
    ldap_set_option(NULL, LDAP_OPT_DEBUG_LEVEL, &level);
    ber_set_option(NULL, LBER_OPT_LOG_PRINT_FN, (const void *)cldap_tls_diagnostic_print);
}

// Turns the capture on (around connecting and StartTLS) or off.
static inline void cldap_tls_diagnostic_capture(int on) {
    int level = on ? (0x0001 | 0x0008) : 0;  // LDAP_DEBUG_TRACE | LDAP_DEBUG_CONNS
    ldap_set_option(NULL, LDAP_OPT_DEBUG_LEVEL, &level);
}

static inline void cldap_tls_diagnostic_clear(void) { cldap_tls_diagnostic_buffer()[0] = 0; }

// The last TLS failure of this thread since the last clear ("" if none).
static inline const char *cldap_tls_diagnostic_text(void) { return cldap_tls_diagnostic_buffer(); }

// The socket of a handle's connection, for a watchdog on another thread.
//
// libldap has no deadline of its own for a TLS handshake (ldaps:// to a server that accepts
// TCP and then says nothing spins forever), so the LDAP target enforces its time budget from
// outside: when the budget runs out, a timer shuts the socket down (shutdown(2), never
// close(2): the descriptor stays libldap's), every blocked or spinning read and write fails,
// and the call returns an error. libldap reports each socket it connects or closes through
// the connection callbacks (LDAP_OPT_CONNECT_CB); these keep the current one in `fd`.
//
// libldap 2.5 (Debian 12's) also spins *during* every TLS handshake that waits for the server
// when a network timeout is set: it makes the socket non-blocking and calls SSL_connect again
// and again without polling (tls2.c ldap_int_tls_start polls only for async connects): a
// server that stalls its handshake cost a core, 65,000 failed reads a second. So once the TCP
// connection is made (the callback below runs between the connect and the handshake), the
// network timeout is switched off when `blocking_handshake` is set: the handshake then blocks
// in read(2), and the watchdog's shutdown at the deadline ends it. The caller sets the timeout
// again afterwards. (Not from cldap_socket_watch_del: libldap calls that with its options
// mutex held, and ldap_set_option there deadlocks. A handle with several URIs would connect
// to the next without a network timeout: LDAPConnection sets the flag only for a handle of one URI.)
typedef struct {
    struct ldap_conncb callbacks;
    int fd;  // -1: no connection; read and written atomically
    int blocking_handshake;  // set by the caller only while a watchdog is armed
} cldap_socket_watch;

// No network timeout (libldap takes a negative one for "none"; NULL is refused).
static inline int cldap_network_timeout_off(LDAP *ld) {
    struct timeval none = {-1, 0};
    return ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &none);
}

static inline int cldap_socket_watch_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
                                         struct ldap_conncb *ctx) {
    (void)srv; (void)addr;
    cldap_socket_watch *watch = (cldap_socket_watch *)ctx->lc_arg;
    ber_socket_t fd = -1;
    ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd);
    __atomic_store_n(&watch->fd, (int)fd, __ATOMIC_SEQ_CST);
    if (watch->blocking_handshake) cldap_network_timeout_off(ld);
    return 0;
}

static inline void cldap_socket_watch_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx) {
    (void)ld; (void)sb;
    __atomic_store_n(&((cldap_socket_watch *)ctx->lc_arg)->fd, -1, __ATOMIC_SEQ_CST);
}

// Registers `watch` with the handle; it must outlive the handle (free it after unbinding).
static inline int cldap_socket_watch_install(LDAP *ld, cldap_socket_watch *watch) {
    watch->fd = -1;
    watch->blocking_handshake = 0;
    watch->callbacks.lc_add = cldap_socket_watch_add;
    watch->callbacks.lc_del = cldap_socket_watch_del;
    watch->callbacks.lc_arg = watch;
    return ldap_set_option(ld, LDAP_OPT_CONNECT_CB, &watch->callbacks);
}

// Shuts the watched socket down (both directions); a no-op without a connection.
static inline void cldap_socket_watch_trip(cldap_socket_watch *watch) {
    int fd = __atomic_load_n(&watch->fd, __ATOMIC_SEQ_CST);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
}

// RFC 4527's post-read control: the server returns the entry as the write left it (an add's
// nsUniqueId, which the server assigned). Its request value is a BER sequence of attribute
// descriptions and its response value an encoded SearchResultEntry; both need ber_printf /
// ber_scanf, which are variadic (Swift does not import them). The same calls as OpenLDAP's
// ldapmodify (-e postread) makes.

// A non-critical post-read control asking for `attributes` (NULL-terminated); free it with
// ldap_control_free.
static inline int cldap_post_read_control(char **attributes, LDAPControl **control) {
    BerElement *ber = ber_alloc_t(LBER_USE_DER);
    if (ber == NULL) return LDAP_NO_MEMORY;
    struct berval value;
    int rc = ber_printf(ber, "{v}", attributes) == -1 || ber_flatten2(ber, &value, 0) == -1
        ? LDAP_ENCODING_ERROR
        : ldap_control_create(LDAP_CONTROL_POST_READ, 0, &value, 1, control);  // copies the value
    ber_free(ber, 1);
    return rc;
}

// Reading the entry of a pre/post-read response control: begin (the entry's DN into `dn`,
// pointing into the returned element), then `next` for each attribute (its name, pointing into
// the element, and its values: free them with ber_bvarray_free) until it returns 0; then
// ber_free(element, 1). NULL from begin: not an entry.
static inline BerElement *cldap_read_entry_begin(LDAPControl *control, struct berval *dn) {
    BerElement *ber = ber_init(&control->ldctl_value);
    if (ber != NULL && ber_scanf(ber, "{m{", dn) == LBER_ERROR) {
        ber_free(ber, 1);
        return NULL;
    }
    return ber;
}

static inline int cldap_read_entry_next(BerElement *ber, struct berval *name, BerVarray *values) {
    *values = NULL;
    return ber_scanf(ber, "{m", name) != LBER_ERROR && ber_scanf(ber, "[W]", values) != LBER_ERROR;
}

#endif
