"""Reliability round 2 (issue 9): no event thrown away, no hang past the budget, nothing
trusted that others could have written. Each test shows one defect of the earlier tool fixed,
against the real 389-ds (and fake servers for what 389-ds will not do)."""
import json
import os
import pwd
import resource
import subprocess
import time
import uuid as uuidlib
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import BIN, ENV, LDAPI, SERVICE_PW_FILE, free_port, ldap, managed, record, assert_within_budget, reference_seconds
from fake_servers import FakeServer, Garbage, StartTLSThenSilent

LDAPS = ENV.get("NOVA_DIRSVC_TEST_LDAPS_URI", "")
CA = ENV.get("NOVA_DIRSVC_TEST_CA_CERT", "")



def queued(tool):
    return sorted(tool.spool_dir.glob("*.event"))


def failed(tool):
    return sorted((tool.spool_dir / "failed").glob("*.event*")) if (tool.spool_dir / "failed").exists() else []


def queue_events(tool, n):
    """n register events queued in the spool (the directory unreachable), their records."""
    records = [record() for _ in range(n)]
    for r in records:
        proc = tool.run("register", "--event", "-", input=json.dumps(r), uri=f"ldap://127.0.0.1:{free_port()}")
        assert proc.returncode == 75, proc.stderr
    assert len(queued(tool)) == n
    return records


@contextmanager
def read_only_backend():
    change = "dn: cn=userRoot,cn=ldbm database,cn=plugins,cn=config\nchangetype: modify\nreplace: nsslapd-readonly\nnsslapd-readonly: {}\n"
    ldap("ldapmodify", input=change.format("on"))
    try:
        yield
    finally:
        ldap("ldapmodify", input=change.format("off"))


# --- 1. a problem on the caller's side never sets queued events aside ---------------------

def test_wrong_password_flush_leaves_every_event_queued(tool, container, tmp_path):
    records = queue_events(tool, 5)
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    proc = tool.run("flush", password_file=str(wrong))
    assert proc.returncode == 77, proc.stderr
    assert "invalidCredentials" in proc.stderr
    assert len(queued(tool)) == 5 and failed(tool) == []
    proc = tool.run("flush")
    assert proc.returncode == 0, proc.stderr
    assert "applied 5, remaining 0, set aside 0" in proc.stdout
    assert set(managed(container)) == {r["instance_uuid"] for r in records}


def test_read_only_backend_flush_and_register_queue(tool, container):
    records = queue_events(tool, 3)
    with read_only_backend():
        proc = tool.run("flush")
        assert proc.returncode == 75, proc.stderr
        assert "unwillingToPerform" in proc.stderr
        assert len(queued(tool)) == 3 and failed(tool) == []
        # a new event meets the same read-only server: queued too (it used to vanish, exit 1)
        fresh = record()
        proc = tool.run("register", "--event", "-", input=json.dumps(fresh))
        assert proc.returncode == 75, proc.stderr
        assert len(queued(tool)) == 4
    assert tool.run("flush").returncode == 0
    assert set(managed(container)) == {r["instance_uuid"] for r in records + [fresh]}


@pytest.mark.parametrize("server", [Garbage, StartTLSThenSilent], ids=["garbage", "starttls-then-silent"])
def test_misbehaving_server_queues_and_sets_nothing_aside(tool, container, server):
    queue_events(tool, 2)
    with server() as fake:
        args = {"uri": f"ldap://127.0.0.1:{fake.port}", "timeout": "2"}
        extra = ["--start-tls", "--ca-cert", CA] if server is StartTLSThenSilent else []
        reference = reference_seconds()
        start = time.monotonic()
        proc = tool.run("flush", *extra, **args)
        assert proc.returncode == 75, proc.stderr
        proc = tool.run("register", "--event", "-", *extra, input=json.dumps(record()), **args)
        assert proc.returncode == 75, proc.stderr
        assert_within_budget(time.monotonic() - start, 2 * 2, reference, "a flush and a register, 2 s each")
        assert fake.connections >= 1
    assert len(queued(tool)) == 3 and failed(tool) == []


@pytest.mark.parametrize("scheme", ["ldaps", "starttls"])
def test_a_stalled_tls_handshake_is_waited_for_not_spun_on(tool, container, scheme):
    """Issue 21: a server that accepts TCP and then stalls the TLS handshake (ldaps://, or after
    StartTLS) costs the tool its time budget in wall time, not a core: libldap 2.5 with a network
    timeout retried the handshake without polling (65,000 failed reads a second, the whole 2 s
    on the CPU). The process's own CPU time is measured: another build on the machine does not
    inflate it."""
    with (StartTLSThenSilent() if scheme == "starttls" else FakeServer()) as fake:
        uri = f"ldap://127.0.0.1:{fake.port}" if scheme == "starttls" else f"ldaps://127.0.0.1:{fake.port}"
        extra = ["--start-tls"] if scheme == "starttls" else []
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        proc = tool.run("register", "--event", "-", *extra, "--ca-cert", CA, input=json.dumps(record()), uri=uri, timeout="2")
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 75, proc.stderr
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert wall >= 1.5, wall  # it did wait for the server
    assert cpu < 0.6, f"{cpu:.2f} s of CPU in {wall:.2f} s"


def test_configuration_error_with_a_queued_event_is_64_not_75(tool, container, tmp_path):
    queue_events(tool, 1)
    loose = tmp_path / "loose.pw"
    loose.write_text(open(SERVICE_PW_FILE).read())
    loose.chmod(0o644)
    proc = tool.run("register", "--event", "-", input=json.dumps(record()), password_file=str(loose))
    assert proc.returncode == 64, proc.stderr
    assert "readable or writable by other users" in proc.stderr and "queued" in proc.stderr
    assert len(queued(tool)) == 2 and failed(tool) == []
    assert tool.run("flush").returncode == 0
    assert len(managed(container)) == 2


# --- 3. and 12. names in the spool ---------------------------------------------------------

def refuse_an_unregister(tool, container):
    """An unregister the directory refuses for good (the entry has a child), kept in failed/."""
    r = record()
    assert tool.run("register", "--event", "-", input=json.dumps(r)).returncode == 0
    ldap("ldapadd", input=f"dn: cn=child,cn={r['instance_uuid']},{container}\nobjectClass: top\nobjectClass: device\ncn: child\n")
    proc = tool.run("unregister", "--instance-uuid", r["instance_uuid"])
    assert proc.returncode == 1, proc.stderr
    return r["instance_uuid"]


def test_set_aside_events_are_never_overwritten(tool, container):
    first = refuse_an_unregister(tool, container)
    # the spool empties in between (queue one event, flush it)
    queue_events(tool, 1)
    assert tool.run("flush").returncode == 0
    second = refuse_an_unregister(tool, container)
    kept = [json.loads(p.read_text())["instance_uuid"] for p in failed(tool) if p.suffix == ".event"]
    assert sorted(kept) == sorted([first, second])


def test_sequence_numbers_never_restart(tool, container):
    queue_events(tool, 1)
    name1 = queued(tool)[0].name
    assert tool.run("flush").returncode == 0
    queue_events(tool, 1)
    assert queued(tool)[0].name > name1


def test_a_stale_reason_file_does_not_fail_a_successful_register(tool, container):
    (tool.spool_dir / "failed").mkdir(parents=True, mode=0o700)
    tool.spool_dir.chmod(0o700)
    for n in (1, 2, 3):
        (tool.spool_dir / "failed" / f"{n:020d}.event.reason").write_text("stale: from an earlier life\n")
    queue_events(tool, 1)
    proc = tool.run("register", "--event", "-", input=json.dumps(record()))  # drains, then applied
    assert proc.returncode == 0, proc.stderr
    assert len(managed(container)) == 2


def test_an_out_of_range_spool_name_is_set_aside_not_trusted(tool, container):
    tool.spool_dir.mkdir(mode=0o700, exist_ok=True)
    stray = tool.spool_dir / "18446744073709551615.event"
    stray.write_text(json.dumps({"version": 1, "action": "unregister", "instance_uuid": str(uuidlib.uuid4())}) + "\n")
    r = record()
    proc = tool.run("register", "--event", "-", input=json.dumps(r))  # used to crash (overflow)
    assert proc.returncode == 0, proc.stderr
    assert r["instance_uuid"] in managed(container)
    assert not list(tool.spool_dir.glob(".tmp-*"))
    proc = tool.run("flush")
    assert proc.returncode == 1, proc.stderr
    assert not stray.exists() and (tool.spool_dir / "failed" / stray.name).exists()
    assert "not a file name nova-dirsvc writes" in (tool.spool_dir / "failed" / (stray.name + ".reason")).read_text()


# --- 6. the spool trusts nothing others could have written ---------------------------------

def test_spool_folder_writable_by_others_is_refused(tool, container):
    tool.spool_dir.mkdir(mode=0o700)
    tool.spool_dir.chmod(0o777)
    proc = tool.run("flush")
    assert proc.returncode == 64, proc.stderr
    assert "writable by group or others" in proc.stderr


def test_symlinked_spool_folder_is_refused(tool, container, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    victim = target / "00000000000000000001.event"
    victim.write_text("precious\n")
    tool.spool_dir.symlink_to(target)
    proc = tool.run("flush")
    assert proc.returncode == 64, proc.stderr
    assert "symbolic link" in proc.stderr
    assert victim.read_text() == "precious\n"


def test_event_file_owned_by_someone_else_is_not_applied(tool, container):
    r = record()
    assert tool.run("register", "--event", "-", input=json.dumps(r)).returncode == 0
    tool.spool_dir.mkdir(mode=0o700, exist_ok=True)
    planted = tool.spool_dir / "00000000000000000001.event"
    planted.write_text(json.dumps({"version": 1, "action": "unregister", "instance_uuid": r["instance_uuid"]}) + "\n")
    planted.chmod(0o666)
    nobody = pwd.getpwnam("nobody")
    os.chown(planted, nobody.pw_uid, nobody.pw_gid)
    proc = tool.run("flush")
    assert proc.returncode == 1, proc.stderr
    assert r["instance_uuid"] in managed(container)  # still registered
    assert "owned by uid" in (tool.spool_dir / "failed" / (planted.name + ".reason")).read_text()


def test_symlinked_event_file_is_not_followed(tool, container, tmp_path):
    r = record()
    assert tool.run("register", "--event", "-", input=json.dumps(r)).returncode == 0
    target = tmp_path / "target.json"
    target.write_text(json.dumps({"version": 1, "action": "unregister", "instance_uuid": r["instance_uuid"]}) + "\n")
    tool.spool_dir.mkdir(mode=0o700, exist_ok=True)
    (tool.spool_dir / "00000000000000000001.event").symlink_to(target)
    proc = tool.run("flush")
    assert proc.returncode == 1, proc.stderr
    assert r["instance_uuid"] in managed(container)
    assert target.exists()


def test_huge_spool_file_is_not_read_whole(tool, container):
    tool.spool_dir.mkdir(mode=0o700, exist_ok=True)
    huge = tool.spool_dir / "00000000000000000001.event"
    with open(huge, "wb") as f:
        f.truncate(3 * 1024 ** 3)  # sparse: 3 GB that cost nothing to write
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = tool.run("flush")
    assert proc.returncode == 1, proc.stderr
    assert "larger than an event can be" in (tool.spool_dir / "failed" / (huge.name + ".reason")).read_text()
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < max(before, 200 * 1024)  # KiB: under 200 MB


def test_symlinked_log_file_is_not_followed(tool, container, tmp_path):
    target = tmp_path / "not-the-log"
    target.write_text("")
    tool.log_file.symlink_to(target)
    r = record()
    proc = tool.run("register", "--event", "-", input=json.dumps(r))
    assert proc.returncode == 0, proc.stderr  # the event is applied; only the log line is lost
    assert "cannot open the event log" in proc.stderr
    assert target.read_text() == ""
    assert r["instance_uuid"] in managed(container)


# --- 8. to 11. no hang past the budget ----------------------------------------------------

@pytest.mark.parametrize("command", ["unregister", "show"])
def test_silent_tls_and_three_silent_uris_stay_within_the_budget(tool, command):
    # a TLS handshake that never completes, twice, and a server that accepts but never
    # answers the bind (the password goes nowhere: it is loopback and the bind never answers)
    with FakeServer() as a, FakeServer() as b, FakeServer() as c:
        uris = [f"ldaps://127.0.0.1:{a.port}", f"ldaps://127.0.0.1:{b.port}", f"ldap://127.0.0.1:{c.port}"]
        args = [arg for u in uris for arg in ("--uri", u)] + ["--bind-dn", "cn=x", "--password-file", SERVICE_PW_FILE]
        start = time.monotonic()
        proc = subprocess.run([BIN, command, "--instance-uuid", str(uuidlib.uuid4()), *args, "--ca-cert", CA,
                               "--base-dn", tool.base_dn, "--timeout", "2", "--spool-dir", str(tool.spool_dir),
                               "--log-file", str(tool.log_file)], capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - start
    assert_within_budget(elapsed, 2, reference_seconds(), f"{command} over three silent servers")
    assert proc.returncode == (75 if command == "unregister" else 69), proc.stderr
    for uri in uris:
        assert uri in proc.stderr  # every server tried is named


def test_flush_connects_within_the_timeout_and_has_a_budget(tool, container):
    queue_events(tool, 2)
    with FakeServer() as a, FakeServer() as b, FakeServer() as c:
        reference = reference_seconds()
        start = time.monotonic()
        proc = tool.run("flush", "--uri", f"ldaps://127.0.0.1:{b.port}", "--uri", f"ldaps://127.0.0.1:{c.port}",
                        uri=f"ldaps://127.0.0.1:{a.port}", timeout="2", ca_cert=CA)
        assert_within_budget(time.monotonic() - start, 2, reference, "a flush over three silent servers")
    assert proc.returncode == 75, proc.stderr
    assert len(queued(tool)) == 2


def test_flush_stops_at_its_budget_and_the_next_flush_goes_on(tool, container):
    # 1,500 queued events and a budget of 12 x 0.2 s: one flush cannot apply them all (they
    # are applied one instance at a time, each confirmed before its file goes)
    tool.spool_dir.mkdir(mode=0o700)
    for i in range(1500):
        r = record()
        (tool.spool_dir / f"{i + 1:020d}.event").write_text(json.dumps({"version": 1, "action": "register", "record": r}) + "\n")
    # On a machine loaded enough that connecting takes more than 0.2 s, a flush can apply
    # nothing: it must then say so (75, the time budget) and leave every event queued.
    left, runs, stalled = 1500, 0, 0
    while left:
        reference = reference_seconds(1)
        start = time.monotonic()
        proc = tool.run("flush", timeout="0.2")
        assert_within_budget(time.monotonic() - start, 12 * 0.2, reference, "a flush")
        now_left = len(queued(tool))
        assert now_left <= left, proc.stderr
        if now_left:  # stopped by its budget (or by one slow answer, which also leaves the rest queued)
            assert proc.returncode == 75 and ("time budget" in proc.stderr or "no answer within" in proc.stderr), proc.stderr
        else:
            assert proc.returncode == 0, proc.stderr
        stalled += now_left == left
        left, runs = now_left, runs + 1
        assert runs - stalled < 30 and stalled < 30, f"{runs} flushes, {stalled} without progress: {proc.stderr}"
    assert runs - stalled > 1
    assert len(managed(container)) == 1500


def test_deep_nesting_is_refused_fast_and_not_taken_for_a_down_directory(tool, container):
    deep = b'{"instance_uuid": ' + b"[" * 20000 + b"]" * 20000 + b"}"
    reference = reference_seconds()
    start = time.monotonic()
    proc = tool.run("register", "--event", "-", input=deep)
    assert_within_budget(time.monotonic() - start, 0, reference, "refusing 20,000 levels of nesting")
    assert proc.returncode == 65, proc.stderr
    assert b"nested deeper than" in proc.stderr
    assert not (tool.spool_dir / ".unavailable").exists() and queued(tool) == []


# --- 13. wrong answers --------------------------------------------------------------------

def test_missing_or_folder_ca_cert_is_a_configuration_error(tool, tmp_path):
    for path in (tmp_path / "missing.pem", tmp_path):
        proc = tool.run("unregister", "--instance-uuid", str(uuidlib.uuid4()), uri=LDAPS, ca_cert=str(path))
        assert proc.returncode == 64, proc.stderr
        assert "CA certificate file" in proc.stderr


def test_referral_entry_is_not_ours_for_register_and_unregister(tool, container):
    uuid = str(uuidlib.uuid4())
    ldap("ldapadd", "-M", input=f"dn: cn={uuid},{container}\nobjectClass: top\nobjectClass: referral\n"
                                f"objectClass: extensibleObject\ncn: {uuid}\nref: ldap://elsewhere.example.com/cn={uuid},{container}\n")
    proc = tool.run("unregister", "--instance-uuid", uuid, uri=LDAPI, bind_dn=None, password_file=None, sasl_mech="EXTERNAL")
    assert proc.returncode == 77, proc.stderr
    proc = tool.run("register", "--event", "-", input=json.dumps(record(uuid)), uri=LDAPI, bind_dn=None,
                    password_file=None, sasl_mech="EXTERNAL")
    assert proc.returncode == 77, proc.stderr


def test_crlf_password_file(tool, container, tmp_path):
    pw = tmp_path / "crlf.pw"
    pw.write_bytes(Path(SERVICE_PW_FILE).read_text().rstrip("\n").encode() + b"\r\n")
    pw.chmod(0o600)
    r = record()
    proc = tool.run("register", "--event", "-", input=json.dumps(r), password_file=str(pw))
    assert proc.returncode == 0, proc.stderr


# --- 14. to 16. validation and messages ----------------------------------------------------

@pytest.mark.parametrize("value,reason", [
    ("e" + "\u0301" * 400000, "longer than 255"),
    ("admin\u202egnp.exe", "format"),
    ("ad\u200bmin", "format"),
    ("line\u2028break", "format"),
], ids=["combining-accents", "bidi-override", "zero-width-space", "line-separator"])
def test_names_limited_in_scalars_and_invisible_characters_refused(tool, container, value, reason):
    r = record(project_name=value)
    proc = tool.run("register", "--event", "-", input=json.dumps(r, ensure_ascii=False))
    assert proc.returncode == 0, proc.stderr[:300]  # the instance registers without the name
    assert "project_name" in proc.stderr and reason in proc.stderr and "left out" in proc.stderr
    for ch in ("\u202e", "\u200b", "\u2028"):
        assert ch not in proc.stderr and ch not in tool.log_file.read_text()
    entry = managed(container)[r["instance_uuid"]]
    assert "novaprojectname" not in entry and entry["novausername"] == ["admin"]


def test_duplicate_keys_are_refused(tool, container):
    r = record()
    text = json.dumps(r)[:-1] + ', "instance_uuid": "%s"}' % uuidlib.uuid4()
    proc = tool.run("register", "--event", "-", input=text)
    assert proc.returncode == 65, proc.stderr
    assert "appears twice" in proc.stderr
    assert managed(container) == {}


def test_reconcile_refuses_an_instance_listed_twice_and_nan(tool, container):
    r = record()
    proc = tool.run("reconcile", "--instances", "-", input=json.dumps([r, r]))
    assert proc.returncode == 65, proc.stderr
    assert r["instance_uuid"] in proc.stderr and "twice" in proc.stderr
    for flag in (["--grace", "nan"], ["--max-delete-ratio", "nan"]):
        proc = tool.run("reconcile", "--instances", "-", *flag, input=json.dumps([r]))
        assert proc.returncode == 64, proc.stderr
    proc = tool.run("show", "--instance-uuid", r["instance_uuid"], timeout="nan")
    assert proc.returncode == 64, proc.stderr


def test_tls_failure_names_its_cause(tool, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=other",
                    "-keyout", str(tmp_path / "k"), "-out", str(other_ca), "-days", "1"], check=True, capture_output=True)
    proc = tool.run("show", "--instance-uuid", str(uuidlib.uuid4()), uri=LDAPS, ca_cert=str(other_ca))
    assert proc.returncode == 69, proc.stderr
    assert "peer cert untrusted" in proc.stderr
