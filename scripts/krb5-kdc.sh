#!/bin/bash
# krb5-kdc.sh DIR KDC_PORT [HOST]  -- a throwaway MIT KDC (realm EXAMPLE.TEST) whose whole state
# lives under DIR, krb5kdc running as this user's process on 127.0.0.1:KDC_PORT (UDP+TCP).
# Creates:
#   ldap/HOST@EXAMPLE.TEST          -> DIR/ldap.keytab        (389-ds acceptor keytab)
#   nova-dirsvc/HOST@EXAMPLE.TEST   -> DIR/nova-dirsvc.keytab (client keytab, maxlife 2 min, +requires_preauth as IdM)
#   nova-dirsvc-long/HOST@EXAMPLE.TEST -> DIR/nova-dirsvc-long.keytab (maxlife 10 h, control)
#   wrongspn/HOST@EXAMPLE.TEST      -> DIR/wrongspn.keytab    (an acceptor key for the wrong SPN)
#   ghost/HOST@EXAMPLE.TEST         -> DIR/ghost.keytab       (then deleted: a principal the KDC does not know)
# (Copied from ../shared/tools/krb5/, the tried recipe; the project keeps its own copy.)
# HOST defaults to $(hostname) (must resolve to 127.0.0.1; libldap names a loopback peer by
# the local host's FQDN, so the SPN the client asks for is ldap/$(hostname)).
# Prints shell assignments: KRB5_CONFIG, KRB5_KDC_PROFILE, KDC_PID.
# Needs: krb5-kdc krb5-admin-server krb5-user (apt, with policy-rc.d so no daemon starts).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DIR KDC_PORT [HOST]" >&2; exit 2; }
D=$(realpath -m "$1"); PORT=$2; HOST=${3:-$(hostname)}; REALM=EXAMPLE.TEST
mkdir -p "$D" "$D/ccache"
cat > "$D/krb5.conf" <<EOF
[libdefaults]
    default_realm = $REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    ticket_lifetime = 10h
    renew_lifetime = 1d
    forwardable = true
# keep the caches of this test out of the shared /tmp/krb5cc_0
    default_ccache_name = FILE:$D/ccache/krb5cc_%{uid}
[realms]
    $REALM = {
        kdc = 127.0.0.1:$PORT
        admin_server = 127.0.0.1:$((PORT+1))
    }
[domain_realm]
    $HOST = $REALM
    localhost = $REALM
    .example.test = $REALM
[logging]
    kdc = FILE:$D/kdc.log
    default = FILE:$D/krb5lib.log
EOF
cat > "$D/kdc.conf" <<EOF
[kdcdefaults]
    kdc_listen = 127.0.0.1:$PORT
    kdc_tcp_listen = 127.0.0.1:$PORT
[realms]
    $REALM = {
        database_name = $D/principal
        acl_file = $D/kadm5.acl
        key_stash_file = $D/stash
        max_life = 10h 0m 0s
        max_renewable_life = 7d 0h 0m 0s
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }
[logging]
    kdc = FILE:$D/kdc.log
EOF
: > "$D/kadm5.acl"
export KRB5_CONFIG=$D/krb5.conf KRB5_KDC_PROFILE=$D/kdc.conf
if [ ! -f "$D/principal" ]; then
  kdb5_util create -s -r $REALM -P "master-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')" > "$D/kdb5_util.log" 2>&1
  k() { kadmin.local -r $REALM -q "$*" >> "$D/kadmin.log" 2>&1; }
  k "addprinc -randkey ldap/$HOST"
  k "ktadd -k $D/ldap.keytab ldap/$HOST"
  k "addprinc -randkey -maxlife 2min +requires_preauth nova-dirsvc/$HOST"
  k "ktadd -k $D/nova-dirsvc.keytab nova-dirsvc/$HOST"
  k "addprinc -randkey +requires_preauth nova-dirsvc-long/$HOST"
  k "ktadd -k $D/nova-dirsvc-long.keytab nova-dirsvc-long/$HOST"
  k "addprinc -randkey wrongspn/$HOST"
  k "ktadd -k $D/wrongspn.keytab wrongspn/$HOST"
  # a keytab whose principal the KDC no longer knows (deleted after the keytab was written)
  k "addprinc -randkey ghost/$HOST"
  k "ktadd -k $D/ghost.keytab ghost/$HOST"
  k "delprinc -force ghost/$HOST"
  chmod 600 "$D"/*.keytab
fi
if [ -f "$D/krb5kdc.pid" ] && kill -0 "$(cat "$D/krb5kdc.pid")" 2>/dev/null; then
  echo "krb5kdc already running" >&2
else
  krb5kdc -n -P "$D/krb5kdc.pid" >> "$D/krb5kdc.out" 2>&1 &
  echo $! > "$D/krb5kdc.pid"
  for _ in $(seq 50); do ss -ltn | grep -q "127.0.0.1:$PORT \|\*:$PORT \|0.0.0.0:$PORT " && break; sleep 0.2; done
fi
cat <<EOF
KRB5_CONFIG=$D/krb5.conf
KRB5_KDC_PROFILE=$D/kdc.conf
KDC_PID=$(cat "$D/krb5kdc.pid")
EOF
