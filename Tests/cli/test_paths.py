"""Paths neither suite ran before (issue 14): each test fails when its behaviour breaks."""
import fcntl
import json
import os
import subprocess
import time
import uuid as uuidlib
from pathlib import Path

from fake_servers import BindThenReset, BindThenSilent
from helpers import BIN, ENV, SERVICE_PW_FILE, free_port, managed, record

CA = ENV.get("NOVA_DIRSVC_TEST_CA_CERT", "")
LDAPS = ENV.get("NOVA_DIRSVC_TEST_LDAPS_URI", "")


def queued(tool):
    return sorted(tool.spool_dir.glob("*.event"))


def test_connection_lost_after_the_bind_queues_and_sigpipe_is_ignored(tool):
    # The server answers the bind, then resets the connection: the next write meets a reset
    # socket. With SIGPIPE at its default the process would die of it (exit -13, nothing
    # queued); ignored, the write fails and the event is queued.
    with BindThenReset() as server:
        proc = tool.run("register", "--event", "-", input=json.dumps(record()), uri=f"ldap://127.0.0.1:{server.port}")
    assert proc.returncode == 75, (proc.returncode, proc.stderr)
    assert len(queued(tool)) == 1


def test_a_server_that_stalls_after_the_bind_costs_the_budget_and_no_more(tool):
    with BindThenSilent() as server:
        start = time.monotonic()
        proc = tool.run("unregister", "--instance-uuid", str(uuidlib.uuid4()), uri=f"ldap://127.0.0.1:{server.port}", timeout="2")
        elapsed = time.monotonic() - start
    assert proc.returncode == 75, proc.stderr
    assert "the time budget ran out" in proc.stderr
    assert elapsed < 2 + 1


def test_flush_while_another_process_holds_the_spool(tool, container):
    tool.spool_dir.mkdir(mode=0o700)
    assert tool.run("register", "--event", "-", input=json.dumps(record()), uri=f"ldap://127.0.0.1:{free_port()}").returncode == 75
    with open(tool.spool_dir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = tool.run("flush", timeout="0.5")
        assert proc.returncode == 75, proc.stderr
        assert "another nova-dirsvc holds the spool" in proc.stderr
    assert tool.run("flush").returncode == 0
    assert len(managed(container)) == 1


def test_an_unusable_spool_does_not_stop_a_directory_that_is_up(tool, container, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    r = record()
    proc = tool.run("register", "--event", "-", input=json.dumps(r), spool_dir=str(blocker / "spool"))
    assert proc.returncode == 0, proc.stderr
    assert "trying the directory without the spool" in proc.stderr
    assert r["instance_uuid"] in managed(container)
    # and with the directory down too, the event is reported lost (69), never silently
    proc = tool.run("register", "--event", "-", input=json.dumps(record()), spool_dir=str(blocker / "spool"),
                    uri=f"ldap://127.0.0.1:{free_port()}")
    assert proc.returncode == 69, proc.stderr


def test_stale_temporary_files_are_removed_and_fresh_ones_kept(tool, container):
    tool.spool_dir.mkdir(mode=0o700)
    stale, fresh = tool.spool_dir / ".tmp-1-2", tool.spool_dir / ".tmp-3-4"
    stale.write_text("half an event")
    fresh.write_text("another writer's event being written")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert tool.run("flush").returncode == 0
    assert not stale.exists() and fresh.exists()


def test_insecure_no_tls_verify_is_what_it_says(tool, container, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=other",
                    "-keyout", str(tmp_path / "k"), "-out", str(other_ca), "-days", "1"], check=True, capture_output=True)
    r = record()
    proc = tool.run("register", "--event", "-", input=json.dumps(r), uri=LDAPS, ca_cert=str(other_ca))
    assert proc.returncode == 75, proc.stderr  # verified: refused
    proc = tool.run("register", "--event", "-", "--insecure-no-tls-verify", input=json.dumps(r), uri=LDAPS, ca_cert=str(other_ca))
    assert proc.returncode == 0, proc.stderr   # not verified, as asked in so many words
    assert r["instance_uuid"] in managed(container)


def test_ldap_conf_tls_cacertdir_is_honoured(tool, container, tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.pem").write_bytes(Path(CA).read_bytes())
    subprocess.run(["openssl", "rehash", str(certs)], check=True, capture_output=True)
    conf = tmp_path / "ldap.conf"
    conf.write_text(f"TLS_CACERTDIR {certs}\n")
    env = dict(os.environ, LDAPCONF=str(conf))
    r = record()
    proc = tool.run("register", "--event", "-", input=json.dumps(r), uri=LDAPS, env=env)
    assert proc.returncode == 0, proc.stderr
    assert r["instance_uuid"] in managed(container)
    # without it, the same certificate is not trusted
    conf.write_text("")
    proc = tool.run("register", "--event", "-", input=json.dumps(record()), uri=LDAPS, env=env)
    assert proc.returncode == 75, proc.stderr


def test_reconcile_refuses_flag_combinations(tool):
    r = json.dumps([record()])
    for flags in (["--dry-run", "--check"], ["--max-delete-ratio", "2"], ["--grace", "-1"]):
        proc = tool.run("reconcile", "--instances", "-", *flags, input=r)
        assert proc.returncode == 64, (flags, proc.stderr)
