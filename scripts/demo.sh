#!/bin/bash
# The main job, end to end, on a fresh Debian 12 machine (as root): installs what is missing,
# builds nova-dirsvc, starts a throwaway 389 Directory Server on 127.0.0.1 with the schema
# loaded, registers the example instance record, shows it with ldapsearch, unregisters it,
# shows that it is gone; then the resident service: a throwaway RabbitMQ, `nova-dirsvc serve`,
# and Nova's own notifications published by oslo.messaging (with Nova's RequestContext, from the
# pinned Python tools in .venv/) flowing into the directory. Removes everything again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
nd_prepare
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi  # colour only on a terminal
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

step "build (the first build takes 10-15 minutes on 2 cores: every 40th step is shown)"
# swift build's own "[n/m] Compiling ..." lines, thinned; errors and the last line as they are
swift build 2>&1 | awk '/^\[[0-9]+\/[0-9]+\]/ { if (n++ % 40 == 0) { print "  " $1 " " $2 " " $3; fflush() } next }
                        { print "  " $0; fflush() }'
bin=$top/.build/debug/nova-dirsvc

step "start a throwaway 389-ds (schema/98nova-dirsvc.ldif loaded, service account from examples/389ds/)"
work=$(mktemp -d /tmp/nova-dirsvc-demo.XXXXXX)
serve_pid=
trap '[ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null; scripts/rabbitmq-stop.sh "$work/rabbitmq" --remove >/dev/null 2>&1
      scripts/directory.sh stop "$work/dir" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/directory.sh start "$work/dir" | sed 's/^/  /'
set -a; . "$work/dir/env"; set +a

# The tool's settings, as an operator would keep them (the password only in a 0600 file).
cat > "$work/nova-dirsvc.conf" <<CONF
[DEFAULT]
log_file = $work/events.log
spool_dir = $work/spool
[ldap]
uri = $NOVA_DIRSVC_TEST_URI
bind_dn = $NOVA_DIRSVC_TEST_SERVICE_DN
password_file = $NOVA_DIRSVC_TEST_SERVICE_PASSWORD_FILE
base_dn = $NOVA_DIRSVC_TEST_BASE_DN
timeout = 5
CONF
search() { ldapsearch -LLL -o ldif-wrap=no -x -H "$NOVA_DIRSVC_TEST_URI" -D "$NOVA_DIRSVC_TEST_SERVICE_DN" \
             -y "$NOVA_DIRSVC_TEST_SERVICE_PASSWORD_FILE" -b "$NOVA_DIRSVC_TEST_BASE_DN" \
             '(novaInstanceUUID=2cb805cf-debe-43ae-a555-28a4a5d84694)' | sed 's/^/  /'; }

step "check the settings: strict, and the directory reached with them"
"$bin" check-config --config "$work/nova-dirsvc.conf" | sed 's/^/  /'

step "schema: the novaInstance object class as the server knows it"
ldapsearch -LLL -o ldif-wrap=no -x -H "$NOVA_DIRSVC_TEST_URI" -b cn=schema -s base objectClasses \
  | grep -i "NAME 'novaInstance'" | sed 's/^/  /'

step "register the example record (as the original plugin logged it)"
echo '  {"image_uuid": "035c2bc7-f2be-4607-afcf-c3b6237e9fe5", "instance_uuid": "2cb805cf-debe-43ae-a555-28a4a5d84694",'
echo '   "mac_address": "fa:16:3e:56:50:29", "project_name": "admin", "user_name": "admin", "user_remote_address": "192.168.122.97"}'
"$bin" register --config "$work/nova-dirsvc.conf" --event - <<'JSON'
{"image_uuid": "035c2bc7-f2be-4607-afcf-c3b6237e9fe5", "instance_uuid": "2cb805cf-debe-43ae-a555-28a4a5d84694",
 "mac_address": "fa:16:3e:56:50:29", "project_name": "admin", "user_name": "admin", "user_remote_address": "192.168.122.97"}
JSON

step "ldapsearch (OpenLDAP's tool) sees the entry"
search

step "unregister it"
"$bin" unregister --config "$work/nova-dirsvc.conf" --instance-uuid 2cb805cf-debe-43ae-a555-28a4a5d84694

step "ldapsearch again: nothing"
search
echo "  (no entry)"

step "Nova's own instance.create.end notification, as it comes off the bus, through apply"
"$bin" apply --config "$work/nova-dirsvc.conf" --event Tests/Fixtures/nova/instance-create-end.oslo-envelope.json
"$bin" apply --config "$work/nova-dirsvc.conf" --event Tests/Fixtures/nova/instance-delete-end.json

step "the resident service: a throwaway RabbitMQ, and nova-dirsvc serve following Nova's notifications"
nd_test_venv  # oslo.messaging and nova from PyPI, the versions pinned in Tests/requirements.txt
amqp_port=$(nd_free_port)
scripts/rabbitmq-start.sh "$work/rabbitmq" "$amqp_port" | sed 's/^/  /'
# The bus settings, as copied from nova.conf (the URL holds a password: a file only we can read).
(umask 077; printf 'rabbit://guest:guest@127.0.0.1:%s/\n' "$amqp_port" > "$work/transport_url")
printf '[amqp]\ntransport_url_file = %s\nexchange = nova\ntopics = versioned_notifications\n' "$work/transport_url" \
  >> "$work/nova-dirsvc.conf"
# Nova's services declare their exchange `nova` when they start; serve only looks it up (it
# never declares Nova's exchange), so the running Nova is played here by that one declare.
PYTHONPATH=Tests/cli .venv/bin/python -c 'import sys, serve_helpers; serve_helpers.declare_nova_exchange("nova", int(sys.argv[1]))' "$amqp_port"
"$bin" serve --check-config --config "$work/nova-dirsvc.conf" | sed 's/^/  /'
"$bin" serve --config "$work/nova-dirsvc.conf" --verbose --stats-interval 0 2> "$work/serve.log" &
serve_pid=$!
for _ in $(seq 100); do grep -q "broker: connected" "$work/serve.log" && break; sleep 0.1; done
sed 's/^/  /' "$work/serve.log"
step "Nova publishes instance.create.end (oslo.messaging, Nova's RequestContext) for 2cb805cf-..."
publish() {
  PYTHONPATH=Tests/cli .venv/bin/python -W ignore -c '
import sys, nova_bus
p = nova_bus.Publisher(sys.argv[1])
p.send_sample(sys.argv[2], "2cb805cf-debe-43ae-a555-28a4a5d84694", nova_bus.context(project_name="admin", user_name="admin"))
p.close()' "rabbit://guest:guest@127.0.0.1:$amqp_port/" "$1" 2>/dev/null
}
wait_for() { for _ in $(seq 100); do [ "$(search | grep -c "^  dn:")" = "$1" ] && return 0; sleep 0.1; done; return 1; }
publish instance-create-end.json
wait_for 1
step "ldapsearch: the entry serve wrote"
search
step "Nova publishes instance.delete.end"
publish instance-delete-end.json
wait_for 0
search
echo "  (no entry)"
step "stop serve (SIGTERM): it finishes what it holds and says what it did"
kill -TERM "$serve_pid"; wait "$serve_pid" || true; serve_pid=
sed -n '/broker: connected/,$p' "$work/serve.log" | tail -n +2 | sed 's/^/  /'
step "the event log ($work/events.log)"
sed 's/^/  /' "$work/events.log"
step "done: the directory is removed on exit"
