#!/bin/bash
# krb5-directory.sh DIR PORT TLS_PORT KDCDIR [HOST] -- a throwaway 389-ds (the project's scripts/directory.sh:
# schema, ou=Instances, ou=Services, the least-privilege account, TLS) that accepts GSSAPI:
#   - ns-slapd inherits KRB5_KTNAME=KDCDIR/ldap.keytab and KRB5_CONFIG=KDCDIR/krb5.conf from
#     this script's environment (ds-start.sh starts ns-slapd directly, no systemd, so the
#     environment of the script IS the server's environment; on RHDS/IdM it is
#     /etc/sysconfig/dirsrv-INSTANCE or a systemd drop-in with Environment=KRB5_KTNAME=...);
#   - nsslapd-localhost is set to HOST (default $(hostname)): the SASL server FQDN. 389-ds's
#     GSSAPI acceptor acquires ldap/<nsslapd-localhost> from the keytab; ds-start.sh's
#     full_machine_name = localhost would make it ldap/localhost;
#   - a SASL mapping (priority 1) nova-dirsvc[-long]/<anything>[@EXAMPLE.TEST] -> uid=nova-dirsvc,ou=Services
#     (-long: the 10 h control principal of kdc-setup.sh; a real site maps only its own principal).
#     The realm is optional: Cyrus SASL strips it when it is the server's default realm, so
#     389-ds sees the id "nova-dirsvc/HOST" (a regex ending in @REALM never matches it).
# Prints DIR/env (the NOVA_DIRSVC_TEST_* of directory.sh).
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 DIR PORT TLS_PORT KDCDIR [HOST]" >&2; exit 2; }
D=$(realpath -m "$1"); PORT=$2; TLS_PORT=$3; K=$(realpath "$4"); HOST=${5:-$(hostname)}
SRC=$(cd "$(dirname "$0")/.." && pwd)   # the project checkout
export KRB5_KTNAME=FILE:$K/ldap.keytab KRB5_CONFIG=$K/krb5.conf
unset KRB5CCNAME KRB5_CLIENT_KTNAME
DS_PORT=$PORT DS_TLS_PORT=$TLS_PORT "$SRC/scripts/directory.sh" start "$D" > /dev/null
set -a; . "$D/env"; set +a
admin=(-H "$NOVA_DIRSVC_TEST_URI" -x -D "cn=Directory Manager" -y "$NOVA_DIRSVC_TEST_ADMIN_PASSWORD_FILE")
if [ "${DS_KEEP_LOCALHOST:-}" != 1 ]; then
  ldapmodify "${admin[@]}" > /dev/null <<EOF
dn: cn=config
changetype: modify
replace: nsslapd-localhost
nsslapd-localhost: $HOST
EOF
fi
ldapadd "${admin[@]}" > /dev/null <<EOF
dn: cn=nova-dirsvc service principal,cn=mapping,cn=sasl,cn=config
objectClass: top
objectClass: nsSaslMapping
cn: nova-dirsvc service principal
nsSaslMapRegexString: ^nova-dirsvc(-long)?/[^@]+(@EXAMPLE\.TEST)?\$
nsSaslMapBaseDNTemplate: ou=Services,$NOVA_DIRSVC_TEST_SUFFIX
nsSaslMapFilterTemplate: (uid=nova-dirsvc)
nsSaslMapPriority: 1
EOF
# nsslapd-localhost takes effect on restart; restart with the same environment
"$SRC/scripts/ds-stop.sh" "$NOVA_DIRSVC_TEST_DS_DIR"
DS_TLS_PORT=$TLS_PORT "$SRC/scripts/ds-start.sh" "$NOVA_DIRSVC_TEST_DS_DIR" "$PORT" > "$D/ds.env"
sed -i "s/^NOVA_DIRSVC_TEST_DS_PID=.*/NOVA_DIRSVC_TEST_DS_PID=$(sed -n 's/^DS_PID=//p' "$D/ds.env")/" "$D/env"
cat "$D/env"
