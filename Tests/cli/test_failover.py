"""Several servers (issue 13, first part): a hung or unreachable first server costs one share
of the budget once, and nothing while it is marked down; after a failover the tool stays on the
server that answered until the others have been quiet for the settle time; the log names the
server that applied each event and those passed over. The second server is the real 389-ds;
the first is a proxy to it that can be made to hang (as a supplier stopped with SIGSTOP), or a
port that drops SYNs."""
import json
import os
import time
import uuid as uuidlib

import pytest

from fake_servers import DropsSYNs, Proxy
from helpers import ENV, URI, managed, record, assert_within_budget, reference_seconds

DS_PORT = int(ENV.get("NOVA_DIRSVC_TEST_DS_PORT", "0") or 0)


def timed(tool, *args, **overrides):
    start = time.monotonic()
    proc = tool.run(*args, **overrides)
    return proc, time.monotonic() - start


def last_log(tool):
    return tool.log_lines()[-1]


@pytest.mark.parametrize("first", ["hung", "drops-syns"])
def test_a_dead_first_server_costs_its_share_once(tool, container, first):
    with (Proxy(DS_PORT) if first == "hung" else DropsSYNs()) as dead:
        if first == "hung":
            dead.hang = True
        uri_a = f"ldap://127.0.0.1:{dead.port}"
        # budget 4 s over two servers: the dead one costs at most its share (2 s)
        reference = reference_seconds()
        proc, elapsed = timed(tool, "register", "--event", "-", "--uri", uri_a, "--uri", URI, input=json.dumps(record()), uri=None, timeout="4")
        assert proc.returncode == 0, proc.stderr
        assert 1.5 < elapsed, elapsed  # it was waited for ...
        assert_within_budget(elapsed, 2, reference, "a register past a dead first server")  # ... for its share only
        line = last_log(tool)
        assert line["outcome"] == "added" and line["server"] == URI
        assert any(p.startswith(uri_a) for p in line["passed_over"])
        # the next events do not wait for it at all while it is marked down
        for _ in range(3):
            proc, elapsed = timed(tool, "register", "--event", "-", "--uri", uri_a, "--uri", URI, input=json.dumps(record()), uri=None, timeout="4")
            assert proc.returncode == 0, proc.stderr
            assert_within_budget(elapsed, 0, reference, "a register past a server marked down")
            assert "passed over" in " ".join(last_log(tool)["passed_over"])
    assert len(managed(container)) == 4
    health = json.loads((tool.spool_dir / ".servers").read_text())
    assert uri_a in health["failed"] and health["preferred"] == URI


def test_no_early_failback_then_failback_after_the_settle_time(tool, container):
    env = dict(os.environ, NOVA_DIRSVC_SERVER_BACKOFF="0.5", NOVA_DIRSVC_FAILBACK_SETTLE="3")
    with Proxy(DS_PORT) as a:
        uri_a = f"ldap://127.0.0.1:{a.port}"
        a.hang = True
        proc = tool.run("register", "--event", "-", "--uri", uri_a, "--uri", URI, input=json.dumps(record()), uri=None, timeout="2", env=env)
        assert proc.returncode == 0 and last_log(tool)["server"] == URI, proc.stderr
        a.hang = False  # A is back, past its back-off, but replication may not have caught up
        time.sleep(0.6)
        proc = tool.run("register", "--event", "-", "--uri", uri_a, "--uri", URI, input=json.dumps(record()), uri=None, timeout="2", env=env)
        assert proc.returncode == 0 and last_log(tool)["server"] == URI, proc.stderr  # still B
        time.sleep(3)
        proc = tool.run("register", "--event", "-", "--uri", uri_a, "--uri", URI, input=json.dumps(record()), uri=None, timeout="2", env=env)
        assert proc.returncode == 0 and last_log(tool)["server"] == uri_a, proc.stderr  # failed back
    health = json.loads((tool.spool_dir / ".servers").read_text())
    assert "preferred" not in health and uri_a not in health["failed"]


def test_absent_after_a_failover_is_checked_on_the_others(tool, container):
    # After a failover, an unregister that finds nothing on the server that answered asks the
    # others; one that cannot be asked keeps the event queued rather than leave an orphan.
    with Proxy(DS_PORT) as a:
        uri_a = f"ldap://127.0.0.1:{a.port}"
        a.hang = True
        proc = tool.run("unregister", "--instance-uuid", str(uuidlib.uuid4()), "--uri", uri_a, "--uri", URI, uri=None, timeout="3")
        assert proc.returncode == 75, proc.stderr
        assert "could not be asked after a recent failover" in proc.stderr
        assert len(list(tool.spool_dir.glob("*.event"))) == 1
        a.hang = False
        proc = tool.run("flush", "--uri", uri_a, "--uri", URI, uri=None, timeout="3")
        assert proc.returncode == 0, proc.stderr  # A answers now: absent there too, done


def test_a_single_server_keeps_no_health_file(tool, container):
    assert tool.run("register", "--event", "-", input=json.dumps(record())).returncode == 0
    assert not (tool.spool_dir / ".servers").exists()


def test_a_server_that_stops_answering_after_the_bind_costs_its_share_and_the_event_moves_on(tool, container):
    from fake_servers import BindThenSilent
    with BindThenSilent() as a:
        uri_a = f"ldap://127.0.0.1:{a.port}"
        first = record()
        proc, elapsed = timed(tool, "register", "--event", "-", "--uri", uri_a, "--uri", URI, input=json.dumps(first),
                              uri=None, timeout="4")
        assert proc.returncode == 0, proc.stderr  # A took the bind and then hung: B applied it, within the budget
        assert_within_budget(elapsed, 4, reference_seconds(), "a register past a server that stalls after the bind")
        assert last_log(tool)["server"] == URI
        assert uri_a in json.loads((tool.spool_dir / ".servers").read_text())["failed"]
        proc, elapsed = timed(tool, "register", "--event", "-", "--uri", uri_a, "--uri", URI, input=json.dumps(record()),
                              uri=None, timeout="4")
        assert proc.returncode == 0, proc.stderr
        assert_within_budget(elapsed, 0, reference_seconds(), "a register past a server marked down")
    assert first["instance_uuid"] in managed(container)


def test_a_budget_too_small_to_try_any_server_says_so(tool):
    proc = tool.run("show", "--instance-uuid", str(uuidlib.uuid4()), timeout="0.001")
    assert proc.returncode == 69, proc.stderr
    assert "before a server was tried" in proc.stderr
