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

// LDAP_OPT_ON is `((void *) &ber_pvt_opt_on)`: a cast of a global's address.
static inline void *cldap_opt_on(void) { return LDAP_OPT_ON; }

// LDAP_OPT_OFF is `((void *) 0)`.
static inline void *cldap_opt_off(void) { return LDAP_OPT_OFF; }

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

#endif
