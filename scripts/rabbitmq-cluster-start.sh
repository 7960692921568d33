#!/bin/bash
# rabbitmq-cluster-start.sh DIR PORT...  -- a throwaway RabbitMQ cluster, one node per PORT (node
# nd<PORT>@localhost, state under DIR/<PORT>, started by rabbitmq-start.sh with one shared Erlang
# cookie), the others joined to the first. Stop a node with rabbitmq-stop.sh DIR/<PORT>, or
# kill -9 the pid in DIR/<PORT>/pid; start it again with rabbitmq-start.sh DIR/<PORT> PORT (with
# RABBITMQ_COOKIE from DIR/cookie). About 10 s a node on 2 cores.
# Prints: AMQP_URL=rabbit://guest:guest@127.0.0.1:PORT1,guest:guest@127.0.0.1:PORT2,.../
set -euo pipefail
here=$(dirname "$0")
. "$here/lib.sh"
[ $# -ge 2 ] || { echo "usage: $0 DIR PORT PORT..." >&2; exit 2; }
D=$(realpath -m "$1"); shift
mkdir -p "$D"
[ -f "$D/cookie" ] || (umask 077; head -c 24 /dev/urandom | base64 | tr -dc A-Za-z0-9 > "$D/cookie")
export RABBITMQ_COOKIE; RABBITMQ_COOKIE=$(cat "$D/cookie")
first=$1
starting=()
for port in "$@"; do "$here/rabbitmq-start.sh" "$D/$port" "$port" > /dev/null & starting+=($!); done
failed=0
for pid in "${starting[@]}"; do wait "$pid" || failed=1; done   # each node's own words are on stderr
[ "$failed" -eq 0 ] || { echo "rabbitmq-cluster-start: a node did not start" >&2; exit 1; }
ctl() {  # ctl PORT args...: rabbitmqctl on that node, with its RABBITMQ_* and HOME (the cookie)
  local port=$1; shift
  # shellcheck disable=SC2046  # one NAME=VALUE word each (paths without spaces)
  env $(grep -E '^(RABBITMQ_[A-Z_]+|HOME)=' "$D/$port/env") \
    /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "nd$port@localhost" "$@"
}
for port in "${@:2}"; do
  ctl "$port" stop_app > /dev/null
  ctl "$port" join_cluster "nd$first@localhost" > /dev/null
  ctl "$port" start_app > /dev/null
done
hosts=()
for port in "$@"; do hosts+=("guest:guest@127.0.0.1:$port"); done
printf 'AMQP_URL=rabbit://%s/\n' "$(IFS=,; echo "${hosts[*]}")"
