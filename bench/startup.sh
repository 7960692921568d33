#!/bin/bash
# The CLI's start-up before and after: builds REV's release binary (default: the commit before
# `serve` existed) in a worktree of its own, and times it against this tree's, interleaved, on a
# throwaway 389-ds (bench/startup.py). Usage: bash bench/startup.sh [REV]
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
nd_prepare
rev=${1:-5cb2507}
swift build -c release --static-swift-stdlib 2>&1 | tail -1
work=$(mktemp -d /tmp/nova-dirsvc-startup.XXXXXX)
trap 'git worktree remove --force "$work/tree" 2>/dev/null; rm -rf "$work"' EXIT
git worktree add -q "$work/tree" "$rev"
(cd "$work/tree" && swift build -c release --static-swift-stdlib --scratch-path "$work/build" 2>&1 | tail -1)
scripts/directory.sh run "$work/dir" -- python3 bench/startup.py "$work/build/release/nova-dirsvc" "$top/.build/release/nova-dirsvc"
