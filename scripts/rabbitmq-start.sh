#!/bin/bash
# rabbitmq-start.sh DIR PORT  -- start a throwaway RabbitMQ broker whose whole state lives under
# DIR, listening on 127.0.0.1:PORT (AMQP 0-9-1), as root without systemd. Runs the Erlang
# release's own script (/usr/sbin/rabbitmq-server switches to the rabbitmq user, which cannot
# write DIR). The node name is derived from PORT (nd<PORT>@localhost), so several brokers can run
# at once; the Erlang distribution port (rabbitmqctl, clustering) is a free port chosen at each
# start and recorded in DIR/env, never one derived from PORT: under load such a port was somebody's
# ephemeral port (dist_port_already_used). A start that loses that race is retried (3 tries).
# Default user guest/guest (allowed from loopback only... and here from anywhere:
# loopback_users = none, since the broker listens on 127.0.0.1 alone). About 6 s.
# With RABBITMQ_TLS_PORT set: also AMQPS on 127.0.0.1:RABBITMQ_TLS_PORT, with a server
# certificate for localhost/127.0.0.1 from a CA made for it (DIR/tls/ca.crt).
# With RABBITMQ_COOKIE set: that Erlang cookie (nodes of one cluster share it; see
# rabbitmq-cluster-start.sh).
# Prints shell assignments: AMQP_URL (rabbit://guest:guest@127.0.0.1:PORT/), RABBITMQ_PID.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || { echo "usage: $0 DIR PORT" >&2; exit 2; }
D=$(realpath -m "$1"); PORT=$2
mkdir -p "$D/mnesia" "$D/log"
if [ -n "${RABBITMQ_COOKIE:-}" ] && [ ! -f "$D/.erlang.cookie" ]; then
  (umask 077; printf %s "$RABBITMQ_COOKIE" > "$D/.erlang.cookie"); chmod 400 "$D/.erlang.cookie"
fi
export RABBITMQ_NODENAME=nd$PORT@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$PORT \
       RABBITMQ_MNESIA_BASE=$D/mnesia RABBITMQ_LOG_BASE=$D/log RABBITMQ_PID_FILE=$D/pid \
       RABBITMQ_ENABLED_PLUGINS_FILE=$D/enabled_plugins RABBITMQ_CONFIG_FILE=$D/rabbitmq HOME=$D \
       ERL_CRASH_DUMP=$D/erl_crash.dump   # not the caller's working directory
echo '[].' > "$D/enabled_plugins"
printf 'loopback_users = none\nlisteners.tcp.default = 127.0.0.1:%s\n' "$PORT" > "$D/rabbitmq.conf"
if [ -n "${RABBITMQ_TLS_PORT:-}" ]; then
  mkdir -p "$D/tls"
  (cd "$D/tls"
   openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 365 -subj "/CN=Test AMQP CA" \
     -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
   openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
   printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" > ext.cnf
   openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -out server.crt -extfile ext.cnf 2>/dev/null)
  printf 'listeners.ssl.default = 127.0.0.1:%s\nssl_options.cacertfile = %s\nssl_options.certfile = %s\nssl_options.keyfile = %s\nssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n' \
    "$RABBITMQ_TLS_PORT" "$D/tls/ca.crt" "$D/tls/server.crt" "$D/tls/server.key" >> "$D/rabbitmq.conf"
fi
for attempt in 1 2 3; do
  RABBITMQ_DIST_PORT=$(nd_free_port); export RABBITMQ_DIST_PORT
  env > "$D/env"  # the same environment stops it (rabbitmq-stop.sh) and runs rabbitmqctl on it
  rm -f "$D/pid"
  setsid nohup /usr/lib/rabbitmq/bin/rabbitmq-server > "$D/out.log" 2>&1 < /dev/null &
  server=$!
  for _ in $(seq 600); do   # ready when the AMQP port takes a connection and the pid file is there (max 60 s)
    if [ -s "$D/pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      printf 'AMQP_URL=rabbit://guest:guest@127.0.0.1:%s/\nRABBITMQ_PID=%s\n' "$PORT" "$(cat "$D/pid")"
      exit 0
    fi
    nd_alive "$server" || break   # it gave up: no use waiting out the minute
    sleep 0.1
  done
  if ! nd_alive "$server" && grep -q dist_port_already_used "$D/out.log" && [ "$attempt" -lt 3 ]; then
    echo "rabbitmq: distribution port $RABBITMQ_DIST_PORT taken meanwhile, trying another" >&2
    continue
  fi
  break
done
echo "rabbitmq did not come up" >&2; tail -20 "$D/out.log" >&2; exit 1
