#!/bin/bash
# ds-pair-start.sh DIR PORT_A PORT_B [SCHEMA.ldif]  (after ../shared/tools/start-389ds-pair.sh)
# Two 389-ds suppliers, supA on 127.0.0.1:PORT_A and supB on 127.0.0.1:PORT_B, suffix
# dc=example,dc=com, replicating both ways (multi-supplier), all state under DIR/A and DIR/B.
# Directory Manager's password is in DIR/dm.pw, the replication manager's in DIR/repl.pw (0600,
# no trailing newline). Creates ou=Instances (on A, seen on B) before it returns. ~10 s here.
# Stop: DS_NAME=supA scripts/ds-stop.sh DIR/A --remove; DS_NAME=supB scripts/ds-stop.sh DIR/B --remove
# Control one supplier: PREFIX=DIR/A dsctl supA stop|start; PREFIX=DIR/A dsconf supA ... (as root
# they autobind over ldapi; without PREFIX they cannot find a relocated instance).
# Pitfalls seen here: a password file with a trailing newline fails binds silently; init-status
# says "Unknown" at first (poll); `repl-agmt status` is misleading until the first write; after a
# supplier restarts, its peer retries on a backoff (3, 6, 12 s), so catch-up takes seconds; once
# (of 4 runs here) ns-slapd 2.3.1 on B died of a general protection fault in libc while receiving
# the total init: remove both and run this again.
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
D=$(realpath -m "$1"); PA=$2; PB=$3; SCHEMA=${4:-}
SUFFIX=dc=example,dc=com; RM="cn=replication manager,cn=config"
mkdir -p "$D"
(umask 077
 printf %s "$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')" > "$D/dm.pw"
 printf %s "$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')" > "$D/repl.pw")
DS_NAME=supA DS_PASSWORD=$(cat "$D/dm.pw") DS_SCHEMA=$SCHEMA "$here/ds-start.sh" "$D/A" "$PA" > "$D/A.env" & pa=$!
DS_NAME=supB DS_PASSWORD=$(cat "$D/dm.pw") DS_SCHEMA=$SCHEMA "$here/ds-start.sh" "$D/B" "$PB" > "$D/B.env" & pb=$!
wait $pa; wait $pb
dsA() { PREFIX=$D/A dsconf supA "$@"; }
dsB() { PREFIX=$D/B dsconf supB "$@"; }
dsA replication enable --suffix "$SUFFIX" --role supplier --replica-id 1 --bind-dn "$RM" --bind-passwd "$(cat "$D/repl.pw")" >/dev/null
dsB replication enable --suffix "$SUFFIX" --role supplier --replica-id 2 --bind-dn "$RM" --bind-passwd "$(cat "$D/repl.pw")" >/dev/null
dsA repl-agmt create --suffix "$SUFFIX" --host 127.0.0.1 --port "$PB" --conn-protocol LDAP \
    --bind-dn "$RM" --bind-passwd "$(cat "$D/repl.pw")" --bind-method SIMPLE A-to-B >/dev/null
dsB repl-agmt create --suffix "$SUFFIX" --host 127.0.0.1 --port "$PA" --conn-protocol LDAP \
    --bind-dn "$RM" --bind-passwd "$(cat "$D/repl.pw")" --bind-method SIMPLE B-to-A >/dev/null
dsA repl-agmt init --suffix "$SUFFIX" A-to-B >/dev/null
SECONDS=0
until dsA repl-agmt init-status --suffix "$SUFFIX" A-to-B 2>&1 | grep -q "successfully initialized"; do
  [ $SECONDS -lt 60 ] || { echo "the total init of B did not finish in 60 s (see DIR/B's errors log)" >&2; exit 1; }
  sleep 0.2
done
printf 'dn: ou=Instances,%s\nobjectClass: top\nobjectClass: organizationalUnit\nou: Instances\n' "$SUFFIX" \
  | ldapadd -x -H "ldap://127.0.0.1:$PA" -D "cn=Directory Manager" -y "$D/dm.pw" >/dev/null
for _ in $(seq 600); do
  ldapsearch -x -H "ldap://127.0.0.1:$PB" -D "cn=Directory Manager" -y "$D/dm.pw" -b "ou=Instances,$SUFFIX" -s base 1.1 >/dev/null 2>&1 && { echo "ready: A=ldap://127.0.0.1:$PA B=ldap://127.0.0.1:$PB"; exit 0; }
  sleep 0.05
done
echo "ou=Instances never replicated to B" >&2; exit 1
