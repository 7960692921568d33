#!/bin/bash
# scripts/directory.sh start DIR | stop DIR | run DIR -- COMMAND...
#
# A throwaway 389 Directory Server for tests and for the demo, all of its state under DIR:
#   start  creates the instance (first time), loads schema/, listens on 127.0.0.1:PORT (a free
#          port; or $DS_PORT; StartTLS there), on LDAPS (a free port, or $DS_TLS_PORT; certificate
#          from a CA made for it: DIR/ds/tls/ca.crt) and on an ldapi socket, creates ou=Instances and ou=Services and
#          the least-privilege service account from examples/389ds/, and writes DIR/env: the
#          shell assignments tests read (NOVA_DIRSVC_TEST_*). Prints DIR/env.
#   stop   stops the server and removes DIR.
#   run    start, run COMMAND with DIR/env exported, stop (also on failure); COMMAND's status.
# Runs as root without systemd (see docs/ldap-servers.md). Needs 389-ds-base and ldap-utils.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd); top=$(dirname "$here")
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,12p' "$0" >&2; exit 64; }
dir=$(realpath -m "$dir")
suffix='dc=example,dc=com'

start() {
  local port=${DS_PORT:-$(nd_free_port)}
  local tls_port=${DS_TLS_PORT:-$(nd_free_port)}
  mkdir -p "$dir"
  # Secrets live in files readable by root only; never on a command line.
  local admin_pw service_pw
  admin_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  service_pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  (umask 077; printf %s "$admin_pw" > "$dir/admin.pw"; printf %s "$service_pw" > "$dir/service.pw")
  # TLS: a CA made for this instance (DIR/ds/tls/ca.crt) signs the server certificate;
  # LDAPS on tls_port, StartTLS on port.
  DS_PASSWORD=$admin_pw DS_SUFFIX=$suffix DS_SCHEMA="$top/schema/98nova-dirsvc.ldif" DS_TLS_PORT=$tls_port \
    "$here/ds-start.sh" "$dir/ds" "$port" > "$dir/ds.env"
  # shellcheck disable=SC1091
  . "$dir/ds.env"
  local admin=(-H "$LDAP_URI" -x -D "cn=Directory Manager" -y "$dir/admin.pw")
  ldapadd "${admin[@]}" -f "$top/examples/389ds/base.ldif" > /dev/null
  ldapmodify "${admin[@]}" -f "$top/examples/389ds/service-account.ldif" > /dev/null
  # the password goes through a pipe from a shell builtin: never on a command line
  printf 'dn: uid=nova-dirsvc,ou=Services,%s\nchangetype: modify\nreplace: userPassword\nuserPassword: %s\n' \
    "$suffix" "$service_pw" | ldapmodify "${admin[@]}" > /dev/null
  cat > "$dir/env" <<ENV
NOVA_DIRSVC_TEST_URI=$LDAP_URI
NOVA_DIRSVC_TEST_LDAPI_URI=$LDAPI_URI
NOVA_DIRSVC_TEST_LDAPS_URI=$LDAPS_URI
NOVA_DIRSVC_TEST_CA_CERT=$LDAPTLS_CACERT
NOVA_DIRSVC_TEST_SUFFIX='$suffix'
NOVA_DIRSVC_TEST_BASE_DN='ou=Instances,$suffix'
NOVA_DIRSVC_TEST_ADMIN_DN='cn=Directory Manager'
NOVA_DIRSVC_TEST_ADMIN_PASSWORD_FILE=$dir/admin.pw
NOVA_DIRSVC_TEST_SERVICE_DN='uid=nova-dirsvc,ou=Services,$suffix'
NOVA_DIRSVC_TEST_SERVICE_PASSWORD_FILE=$dir/service.pw
NOVA_DIRSVC_TEST_DS_DIR=$dir/ds
NOVA_DIRSVC_TEST_DS_PID=$DS_PID
NOVA_DIRSVC_TEST_DS_PORT=$port
NOVA_DIRSVC_TEST_DS_TLS_PORT=$tls_port
ENV
  cat "$dir/env"
}

stop() { "$here/ds-stop.sh" "$dir/ds" --remove; rm -rf "$dir"; }

case "$cmd" in
  start) start ;;
  stop) stop ;;
  run)
    shift 2; [ "${1:-}" = -- ] && shift
    trap stop EXIT
    start > /dev/null
    set -a; . "$dir/env"; set +a
    "$@" ;;
  *) sed -n '2,12p' "$0" >&2; exit 64 ;;
esac
