"""Paths neither suite ran before (issue 14): each test fails when its behaviour breaks."""
import fcntl
import json
import os
import subprocess
import time
import uuid as uuidlib
from pathlib import Path

from fake_servers import BindThenReset, BindThenSilent
from helpers import BIN, ENV, SERVICE_PW_FILE, free_port, managed, record, assert_within_budget, reference_seconds

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
    reference = reference_seconds()
    with BindThenSilent() as server:
        start = time.monotonic()
        proc = tool.run("unregister", "--instance-uuid", str(uuidlib.uuid4()), uri=f"ldap://127.0.0.1:{server.port}", timeout="2")
        elapsed = time.monotonic() - start
    assert proc.returncode == 75, proc.stderr
    assert "the time budget ran out" in proc.stderr
    assert_within_budget(elapsed, 2, reference, "an unregister against a server that stalls after the bind")


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


def test_odd_things_in_the_spool_are_set_aside_and_the_rest_applied(tool, container):
    tool.spool_dir.mkdir(mode=0o700)
    (tool.spool_dir / "00000000000000000001.event").mkdir()                     # a folder
    (tool.spool_dir / "00000000000000000002.event").write_text(
        json.dumps({"version": 1, "action": "explode", "instance_uuid": str(uuidlib.uuid4())}) + "\n")
    (tool.spool_dir / "failed").mkdir(mode=0o700)
    (tool.spool_dir / "failed" / "00000000000000000002.event").write_text("an older failure, kept\n")
    good = record()
    (tool.spool_dir / "00000000000000000003.event").write_text(
        json.dumps({"version": 1, "action": "register", "record": good}) + "\n")
    proc = tool.run("flush")
    assert proc.returncode == 1, proc.stderr
    assert "applied 1, remaining 0, set aside 2" in proc.stdout
    failed = tool.spool_dir / "failed"
    assert "not a regular file" in (failed / "00000000000000000001.event.reason").read_text()
    assert (failed / "00000000000000000002.event").read_text() == "an older failure, kept\n"  # not overwritten
    assert "not register, unregister or update" in (failed / "00000000000000000002.event.1.reason").read_text()
    assert good["instance_uuid"] in managed(container)


def test_a_spool_owned_by_someone_else_is_refused(tool):
    import pwd
    tool.spool_dir.mkdir(mode=0o700)
    os.chown(tool.spool_dir, pwd.getpwnam("nobody").pw_uid, -1)
    proc = tool.run("flush")
    assert proc.returncode == 64 and "owned by uid" in proc.stderr, proc.stderr


def test_a_uri_libldap_cannot_parse_is_a_configuration_error(tool):
    proc = tool.run("register", "--event", "-", input=json.dumps(record()), uri="ldap://[::1")
    assert proc.returncode == 64, proc.stderr
    assert "bad URI" in proc.stderr and len(queued(tool)) == 1  # and the event is kept


def test_no_spool_and_a_refused_bind_says_the_event_was_not_kept(tool, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("nope\n")
    wrong.chmod(0o600)
    proc = tool.run("register", "--event", "-", input=json.dumps(record()), spool_dir=str(blocker / "spool"),
                    password_file=str(wrong))
    assert proc.returncode == 77, proc.stderr
    assert "not kept" in proc.stderr


def test_reconcile_names_an_instance_list_it_cannot_read(tool, tmp_path):
    proc = tool.run("reconcile", "--instances", str(tmp_path / "missing.json"))
    assert proc.returncode == 64 and "does not exist" in proc.stderr, proc.stderr


def test_a_register_waits_behind_a_writer_and_is_applied_when_it_is_done(tool, container):
    import threading
    tool.spool_dir.mkdir(mode=0o700)
    r = record()
    with open(tool.spool_dir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        threading.Timer(1.0, lambda: fcntl.flock(lock, fcntl.LOCK_UN)).start()
        proc = tool.run("register", "--event", "-", input=json.dumps(r), timeout="5")
    assert proc.returncode == 0, proc.stderr
    assert "applied from the spool" in proc.stdout
    assert r["instance_uuid"] in managed(container)
    lines = [line["outcome"] for line in tool.log_lines()]
    assert lines[:2] == ["queued", "added"]  # queued behind the writer, then applied in order


def test_a_refused_event_whose_failed_folder_is_unsafe_still_reports_the_refusal(tool, container, tmp_path):
    from helpers import ldap
    uuid = str(uuidlib.uuid4())
    ldap("ldapadd", input=f"dn: cn={uuid},{container}\nobjectClass: top\nobjectClass: person\ncn: {uuid}\nsn: not ours\n")
    tool.spool_dir.mkdir(mode=0o700)
    (tmp_path / "elsewhere").mkdir()
    (tool.spool_dir / "failed").symlink_to(tmp_path / "elsewhere")
    proc = tool.run("unregister", "--instance-uuid", uuid)
    assert proc.returncode == 77, proc.stderr  # the entry is not ours: that is the answer
    assert "novaInstance" in proc.stderr and "not kept" in proc.stderr and "symbolic link" in proc.stderr
    assert list((tmp_path / "elsewhere").iterdir()) == []
