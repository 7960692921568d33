# Shell helpers shared by scripts/ and bench/ (sourced, never run). Each does one thing.

# The project's top folder, as the working directory; then the packages it needs and Swift on
# PATH (the preamble of test.sh, demo.sh and bench/run.sh).
nd_prepare() {
  top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  cd "$top"
  # shellcheck disable=SC1091
  . scripts/install-deps.sh
  export PATH=/opt/swift/usr/bin:$PATH
}

# The Python test tools, exactly as pinned in Tests/requirements.txt (pytest, oslo.messaging,
# nova, keystoneauth1), in .venv/; reinstalled when the pins change (about a minute).
nd_test_venv() {
  if ! cmp -s Tests/requirements.txt .venv/requirements.installed 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r Tests/requirements.txt
    cp Tests/requirements.txt .venv/requirements.installed
  fi
}

# A loopback TCP port that nothing listens on (bound, then released).
nd_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ldapi://… for a socket path.
nd_ldapi_uri() { printf 'ldapi://%s' "$(printf %s "$1" | sed 's#/#%2F#g')"; }

# A socket path: PATH if short enough for sun_path, else a per-PATH name in /tmp with PREFIX.
nd_socket_path() {
  if [ ${#1} -lt 100 ]; then printf %s "$1"; else printf '/tmp/%s-%s.sock' "$2" "$(printf %s "$1" | md5sum | cut -c1-16)"; fi
}

# Whether a process is alive (a zombie is not).
nd_alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d" " -f3 "/proc/$1/stat" 2>/dev/null)" != Z ] && [ -r "/proc/$1/stat" ]; }

# Waits (up to 30 s) until the root DSE answers on URI; NAME and LOG for the error message.
nd_wait_ldap() {
  local uri=$1 name=$2 log=$3 i
  for i in $(seq 600); do
    ldapsearch -x -H "$uri" -b "" -s base -LLL dn >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "$name did not come up" >&2; tail -20 "$log" >&2; return 1
}

# Stops the server whose pid is in PIDFILE if its command line names PROGRAM: SIGTERM and up
# to 15 s, then SIGKILL; with KILL=now, SIGKILL at once (its data is being thrown away).
nd_stop_pid() {
  local pidfile=$1 program=$2 now=${3:-} pid i
  if [ -f "$pidfile" ] && pid=$(cat "$pidfile") && [ -n "$pid" ] && nd_alive "$pid" \
     && grep -q "$program" "/proc/$pid/cmdline" 2>/dev/null; then
    if [ "$now" = now ]; then kill -KILL "$pid"; else kill -TERM "$pid"; fi
    for i in $(seq 300); do nd_alive "$pid" || break; sleep 0.05; done
    nd_alive "$pid" && { echo "$program $pid ignored SIGTERM, killing" >&2; kill -KILL "$pid"; }
  fi
  rm -f "$pidfile"
}
