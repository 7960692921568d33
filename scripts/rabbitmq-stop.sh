#!/bin/bash
# rabbitmq-stop.sh DIR [--remove]  -- stop the broker rabbitmq-start.sh DIR started (its Erlang VM,
# by the pid it wrote: SIGTERM, up to 15 s, then SIGKILL); with --remove, delete DIR too.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -ge 1 ] || { echo "usage: $0 DIR [--remove]" >&2; exit 2; }
D=$(realpath -m "$1")
nd_stop_pid "$D/pid" beam
case " $* " in *" --remove "*) rm -rf "$D";; esac
exit 0
