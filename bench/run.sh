#!/bin/bash
# The benchmark: nova-dirsvc side by side with OpenLDAP's command-line tools, on this machine,
# against the same throwaway 389-ds. Prints a table of medians and ratios (bench/bench.py says
# what is measured). Not a test: nothing here passes or fails. About 6-8 minutes on 2 cores
# (loading 100,000 entries at 389-ds's write rate dominates), then bench/serve_bench.py: the
# resident service (`serve`) fed by a local RabbitMQ, about 6 minutes more.
# Then bench/bus_bench.py: serve against an oslo.messaging listener with python-ldap (what an
# operator writes instead), on a quorum and on a classic queue, about 2 minutes.
# Then bench/reconcile_nova_bench.py: reconcile --from-nova against the same reconcile from
# files, 100,000 servers (--quick: 20,000), a few minutes.
# Usage: bash bench/run.sh [--quick] [--serve-only] [--http-only] [--bus-only] [--nova-only]
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
nd_prepare
# What an operator installs: a release build with the Swift runtime linked in (faster start-up).
swift build -c release --static-swift-stdlib 2>&1 | tail -1
export NOVA_DIRSVC_BIN=$top/.build/release/nova-dirsvc
nd_test_venv  # the publisher of the serve benchmark: oslo.messaging with Nova's RequestContext
work=$(mktemp -d /tmp/nova-dirsvc-bench.XXXXXX)
trap 'scripts/rabbitmq-stop.sh "$work/rabbitmq" --remove; rm -rf "$work"' EXIT
amqp_port=$(nd_free_port)
scripts/rabbitmq-start.sh "$work/rabbitmq" "$amqp_port" > /dev/null
export NOVA_DIRSVC_BENCH_AMQP_URL=rabbit://guest:guest@127.0.0.1:$amqp_port/
args=("$@")
scripts/directory.sh run "$work/dir" -- bash -c '
  set -e
  case " $* " in *" --serve-only "*|*" --http-only "*|*" --bus-only "*|*" --nova-only "*) ;; *) python3 bench/bench.py "$@";; esac
  case " $* " in *" --bus-only "*|*" --nova-only "*) ;; *) .venv/bin/python -W ignore bench/serve_bench.py "$@";; esac
  case " $* " in *" --http-only "*|*" --nova-only "*) ;; *) .venv/bin/python -W ignore bench/bus_bench.py "$@";; esac
  case " $* " in *" --serve-only "*|*" --http-only "*|*" --bus-only "*) ;; *) python3 bench/reconcile_nova_bench.py "$@";; esac
' bench "${args[@]+"${args[@]}"}"
