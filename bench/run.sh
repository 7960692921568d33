#!/bin/bash
# The benchmark: nova-dirsvc side by side with OpenLDAP's command-line tools, on this machine,
# against the same throwaway 389-ds. Prints a table of medians and ratios (bench/bench.py says
# what is measured). Not a test: nothing here passes or fails. About 6-8 minutes on 2 cores
# (loading 100,000 entries at 389-ds's write rate dominates). Usage: bash bench/run.sh [--quick]
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
nd_prepare
# What an operator installs: a release build with the Swift runtime linked in (faster start-up).
swift build -c release --static-swift-stdlib 2>&1 | tail -1
export NOVA_DIRSVC_BIN=$top/.build/release/nova-dirsvc
work=$(mktemp -d /tmp/nova-dirsvc-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
scripts/directory.sh run "$work/dir" -- python3 bench/bench.py "$@"
