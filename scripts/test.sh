#!/bin/bash
# Runs every test of nova-dirsvc on Debian 12 as root: installs what is missing, builds, starts
# a throwaway 389 Directory Server on 127.0.0.1 (scripts/directory.sh), runs the Swift tests
# (unit + integration) and the Python tests (the CLI end to end and the Nova hook), and
# removes the directory again, also on failure. Exit status: that of the first failing suite.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
nd_prepare

# The code is as the toolchain's swift-format writes it (.swift-format): format a copy, compare.
fmt=$(mktemp -d)
cp -r Sources Tests Package.swift .swift-format "$fmt"/
(cd "$fmt" && swift format format -i -r --parallel Sources Tests Package.swift)
if ! diff -r -q Sources "$fmt/Sources" > /dev/null || ! diff -r -q Tests "$fmt/Tests" > /dev/null \
   || ! diff -q Package.swift "$fmt/Package.swift" > /dev/null; then
  diff -r -u Sources "$fmt/Sources" | head -40 >&2 || true
  echo "the code is not formatted: run swift format format -i -r Sources Tests Package.swift" >&2
  rm -rf "$fmt"; exit 1
fi
rm -rf "$fmt"

build_log=$(mktemp)
if ! swift build --build-tests > "$build_log" 2>&1; then cat "$build_log" >&2; rm -f "$build_log"; exit 1; fi
grep -E "warning:|error:" "$build_log" || true; rm -f "$build_log"
export NOVA_DIRSVC_BIN=$top/.build/debug/nova-dirsvc
[ -x "$NOVA_DIRSVC_BIN" ] || { echo "build failed: no $NOVA_DIRSVC_BIN" >&2; exit 1; }

# The Python test tools, exactly as pinned (reinstalled when Tests/requirements.txt changes).
nd_test_venv
.venv/bin/pip install -q --disable-pip-version-check --no-deps -e examples/nova-hook

# Every test must run: a skipped integration test fails the run (NOVA_DIRSVC_TEST_REQUIRE_ALL
# for the Swift suites, the pytest_no_skips plugin for pytest).
export NOVA_DIRSVC_TEST_REQUIRE_ALL=1
work=$(mktemp -d /tmp/nova-dirsvc-test.XXXXXX)
trap 'scripts/rabbitmq-stop.sh "$work/rabbitmq" --remove; rm -rf "$work"' EXIT
# A throwaway RabbitMQ for the AMQP layer's tests (about 6 s), beside the directory.
amqp_port=$(nd_free_port)
scripts/rabbitmq-start.sh "$work/rabbitmq" "$amqp_port" > /dev/null
export NOVA_DIRSVC_TEST_AMQP_PORT=$amqp_port NOVA_DIRSVC_TEST_AMQP_DIR=$work/rabbitmq
# pytest: a test still running after 300 s gets the stacks of every thread of the test process
# printed (faulthandler_timeout: a diagnosis, not a failure; 300 s is twice the slowest test seen,
# about 150 s with two other suites and a build beside it), so a hang names itself long before
# CI's limit; --durations lists the slowest tests, for whoever tunes a budget or this timeout.
scripts/directory.sh run "$work/dir" -- bash -c '
  set -e
  swift test --skip-build --disable-xctest   # the suites are Swift Testing; no empty XCTest pass
  PYTHONPATH=Tests .venv/bin/python -m pytest -q -p pytest_no_skips -o faulthandler_timeout=300 --durations=15 \
    --rootdir "$PWD" Tests/cli examples/nova-hook/tests
'
