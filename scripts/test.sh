#!/bin/bash
# Runs every test of nova-dirsvc on Debian 12 as root: installs what is missing, builds, starts
# a throwaway 389 Directory Server on 127.0.0.1 (scripts/directory.sh), runs the Swift tests
# (unit + integration) and the Python tests (the CLI end to end and the Nova hook), and
# removes the directory again, also on failure. Exit status: that of the first failing suite.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd); cd "$top"
. scripts/install-deps.sh
export PATH=/opt/swift/usr/bin:$PATH

swift build --build-tests 2>&1 | grep -v '^\[' || true
swift build > /dev/null   # the CLI binary the Python tests drive
export NOVA_DIRSVC_BIN=$top/.build/debug/nova-dirsvc
[ -x "$NOVA_DIRSVC_BIN" ] || { echo "build failed" >&2; exit 1; }

if [ ! -x .venv/bin/pytest ] || ! .venv/bin/python -c 'import stevedore' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check pytest stevedore
fi
[ -d examples/nova-hook ] && .venv/bin/pip install -q --disable-pip-version-check -e examples/nova-hook

work=$(mktemp -d /tmp/nova-dirsvc-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
scripts/directory.sh run "$work/dir" -- bash -c '
  set -e
  swift test --skip-build
  pytest_dirs=$(ls -d Tests/cli examples/nova-hook/tests 2>/dev/null || true)
  if [ -n "$pytest_dirs" ]; then .venv/bin/python -m pytest -q --rootdir "$PWD" $pytest_dirs; fi
'

