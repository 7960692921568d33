"""Never lose an event, never block Nova, never let anyone in: the spool, failover, TLS,
least privilege, against the real 389-ds (which one test kills with SIGKILL and restarts)."""
import json
import os
import random
import signal
import statistics
import subprocess
import time
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import BIN, ENV, assert_within_budget, ROOT, SERVICE_DN, SERVICE_PW_FILE, URI, dump, free_port, ldap, managed, record, restart_server, server_pid




# --- the spool ----------------------------------------------------------------------------

def test_server_killed_mid_stream_nothing_lost_duplicated_or_reordered(tool, container):
    """1,000 register/unregister events, 8 at a time; ns-slapd gets SIGKILL part-way and comes
    back later; every command returns within its budget; after flush the directory is exact."""
    budget = 2.0
    instances = [str(uuidlib.uuid4()) for _ in range(400)]
    rng = random.Random(7)
    # Per instance, in Nova's order: register (v1), maybe a re-register (v2), maybe unregister.
    plans, expected, events = {}, {}, 0
    for u in instances:
        steps = [("register", record(u, project_name="v1"))]
        if rng.random() < 0.3:
            steps.append(("register", record(u, project_name="v2")))
        if rng.random() < 0.6:
            steps.append(("unregister", {"instance_uuid": u}))
        plans[u] = steps
        events += len(steps)
        if steps[-1][0] == "register":
            expected[u] = steps[-1][1]["project_name"]
    while events < 1000:  # top up to 1,000 events with register/unregister pairs
        u = str(uuidlib.uuid4())
        plans[u] = [("register", record(u)), ("unregister", {"instance_uuid": u})]
        events += 2
    runs = []  # (seconds, exit status) of each run
    done = [0]

    def run_instance(u):
        for action, body in plans[u]:
            start = time.monotonic()
            proc = tool.run(action, "--event", "-", input=json.dumps(body), timeout=str(budget))
            runs.append((time.monotonic() - start, proc.returncode))
            assert proc.returncode in (0, 75), proc.stderr
            done[0] += 1

    def chaos():
        while done[0] < 250:
            time.sleep(0.01)
        os.kill(server_pid(), signal.SIGKILL)
        while done[0] < 600:
            time.sleep(0.01)
        restart_server()

    with ThreadPoolExecutor(max_workers=9) as pool:
        killer = pool.submit(chaos)
        order = list(plans)
        rng.shuffle(order)
        work = [pool.submit(run_instance, u) for u in order]
        for future in work:
            future.result()
        killer.result()

    durations, statuses = [d for d, _ in runs], [s for _, s in runs]
    assert len(statuses) >= 1000
    assert 75 in statuses, "the outage queued nothing: the test did not test the spool"
    # the budget, plus what a run costs under this same load (9 threads, a restarting server):
    # the slowest run is held against the slow runs that waited for nothing, the 99th
    # percentile of those applied (tail against tail: against the median, one run that the
    # scheduler held back on a machine running other suites and a build failed it, 6.62 s
    # against 5.91 s, while a run that waits past its budget still fails unloaded)
    applied = [d for d, status in runs if status == 0]
    reference = statistics.quantiles(applied, n=100)[98]
    assert_within_budget(max(durations), budget, reference, "a register or unregister during the outage")
    proc = tool.run("flush")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(tool.spool_dir.glob("*.event")) == []
    present = managed(container)
    assert set(present) == set(expected)
    assert {u: a["novaprojectname"][0] for u, a in present.items()} == expected


def test_truncated_spool_file_is_set_aside_and_reported(tool, container):
    down = f"ldap://127.0.0.1:{free_port()}"
    good, cut = record(), record()
    for r in (good, cut):
        assert tool.run("register", "--event", "-", input=json.dumps(r), uri=down).returncode == 75
    files = sorted(tool.spool_dir.glob("*.event"))
    assert len(files) == 2
    data = files[1].read_bytes()
    files[1].write_bytes(data[: len(data) // 2])              # a crash cut it short
    (tool.spool_dir / ".tmp-1234-99").write_bytes(data[:10])  # a write that never got renamed
    proc = tool.run("flush")
    assert proc.returncode == 1, proc.stderr
    assert "cut short or damaged" in proc.stderr
    assert set(managed(container)) == {good["instance_uuid"]}
    assert (tool.spool_dir / "failed" / files[1].name).exists()
    assert list(tool.spool_dir.glob("*.event")) == []
    assert tool.run("flush").returncode == 0


def test_flush_collapses_and_later_events_drain_the_spool_first(tool, container):
    down = f"ldap://127.0.0.1:{free_port()}"
    gone, kept = record(), record()
    for action, body in [("register", gone), ("register", kept), ("unregister", {"instance_uuid": gone["instance_uuid"]}),
                         ("register", dict(kept, project_name="newer"))]:
        assert tool.run(action, "--event", "-", input=json.dumps(body), uri=down).returncode == 75
    assert len(list(tool.spool_dir.glob("*.event"))) == 4
    # the next event, with the directory back, drains the spool before itself
    third = record()
    proc = tool.run("register", "--event", "-", input=json.dumps(third))
    assert proc.returncode == 0, proc.stderr
    assert list(tool.spool_dir.glob("*.event")) == []
    present = managed(container)
    assert set(present) == {kept["instance_uuid"], third["instance_uuid"]}
    assert present[kept["instance_uuid"]]["novaprojectname"] == ["newer"]
    outcomes = [(l["action"], l["outcome"]) for l in tool.log_lines()]
    # the fourth register queued is the new event, queued behind the waiting ones, then drained
    assert outcomes.count(("register", "queued")) == 4 and ("unregister", "queued") in outcomes
    assert ("unregister", "absent") in outcomes or ("unregister", "deleted") in outcomes


def test_failover_to_the_second_uri(tool, container):
    r = record()
    argv = [BIN, "register", "--event", "-", "--uri", f"ldap://127.0.0.1:{free_port()}", "--uri", URI,
            "--bind-dn", SERVICE_DN, "--password-file", SERVICE_PW_FILE, "--base-dn", container,
            "--log-file", str(tool.log_file), "--spool-dir", str(tool.spool_dir), "--timeout", "3"]
    proc = subprocess.run(argv, input=json.dumps(r), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert set(managed(container)) == {r["instance_uuid"]}


# --- TLS ------------------------------------------------------------------------------------

@pytest.fixture
def wrong_ca(tmp_path):
    key, crt = tmp_path / "other.key", tmp_path / "other.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "2", "-subj", "/CN=Some Other CA"], check=True, capture_output=True)
    return str(crt)


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_tls_verifies_the_server_certificate(tool, container, wrong_ca, mode):
    ca = ENV["NOVA_DIRSVC_TEST_CA_CERT"]
    uri = ENV["NOVA_DIRSVC_TEST_LDAPS_URI"] if mode == "ldaps" else URI.replace("127.0.0.1", "localhost")
    extra = ["--start-tls"] if mode == "starttls" else []
    r = record()
    proc = tool.run("register", "--event", "-", *extra, "--ca-cert", ca, input=json.dumps(r), uri=uri)
    assert proc.returncode == 0, proc.stderr
    before = dump(container)
    other = record()
    proc = tool.run("register", "--event", "-", *extra, "--ca-cert", wrong_ca, input=json.dumps(other), uri=uri,
                    spool_dir="/proc/no-spool")   # no spool: the failure itself must show
    assert proc.returncode == 69, proc.stderr
    assert "connectError" in proc.stderr or "serverDown" in proc.stderr
    assert dump(container) == before                       # and nothing went over plaintext instead


def test_insecure_simple_bind_is_refused_before_connecting(tool):
    # ldap://0.0.0.0:PORT is not loopback by the rule (127.0.0.0/8, ::1, localhost), yet on
    # Linux a connection to it reaches this machine's listener: so the listener can see
    # whether anything was sent. Refused: nothing; allowed in so many words: a connection.
    from fake_servers import FakeServer
    with FakeServer() as server:
        proc = tool.run("register", "--event", "-", input=json.dumps(record()), uri=f"ldap://0.0.0.0:{server.port}")
        assert proc.returncode == 64
        assert "refusing a simple bind" in proc.stderr and "--allow-insecure-bind" in proc.stderr
        time.sleep(0.2)
        assert server.connections == 0
        tool.run("register", "--event", "-", "--allow-insecure-bind", input=json.dumps(record()),
                 uri=f"ldap://0.0.0.0:{server.port}", timeout="1")
        time.sleep(0.2)
        assert server.connections >= 1  # the observation works


def test_password_never_in_argv_log_or_error(tool, tmp_path):
    from fake_servers import BindThenSilent
    secret = open(SERVICE_PW_FILE).read().strip()
    outputs = []
    for uri in (URI, f"ldap://127.0.0.1:{free_port()}"):  # applied; queued
        proc = tool.run("register", "--event", "-", input=json.dumps(record()), uri=uri)
        outputs += [proc.stdout, proc.stderr]
    wrong = tmp_path / "wrong.pw"
    wrong.write_text(secret + "-but-wrong\n")
    wrong.chmod(0o600)
    proc = tool.run("register", "--event", "-", input=json.dumps(record()), password_file=str(wrong))
    assert proc.returncode == 77  # the error path: the bind refused
    outputs += [proc.stdout, proc.stderr]
    # while the tool runs (its bind hangs), its argument vector and environment
    with BindThenSilent() as server:
        argv = [BIN, "unregister", "--instance-uuid", str(uuidlib.uuid4()), *tool.connection_args(
            uri=f"ldap://127.0.0.1:{server.port}", timeout="3")]
        running = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        cmdline = Path(f"/proc/{running.pid}/cmdline").read_bytes().decode(errors="replace")
        environ = Path(f"/proc/{running.pid}/environ").read_bytes().decode(errors="replace")
        children = list(Path("/proc").glob(f"*/task/*/children"))
        out, err = running.communicate(timeout=10)
        outputs += [out.decode(), err.decode()]
    assert secret not in cmdline and secret not in environ
    for child in children:  # the tool starts no process of its own; if it did, none holds it
        try:
            for pid in child.read_text().split():
                assert secret not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            pass
    for text in outputs:
        assert secret not in text
    assert secret not in tool.log_file.read_text()
    for f in tool.spool_dir.glob("*.event"):
        assert secret not in f.read_text()


# --- least privilege --------------------------------------------------------------------------

def as_service(tool, ldif):
    return subprocess.run(["ldapmodify", "-x", "-H", URI, "-D", SERVICE_DN, "-y", SERVICE_PW_FILE],
                          input=ldif, capture_output=True, text=True)


def confinement_attacks(container, managed_uuid):
    """Writes the service account could make with a loose ACI (issue 9, item 5): each must be
    refused. Entries shaped like instances, so that only the ACI's confinement stops them."""
    classes = "objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\nobjectClass: inetOrgPerson\nobjectClass: novaInstance\n"
    def new(extra="", more_classes=""):
        u = str(uuidlib.uuid4())
        return f"dn: cn={u},{container}\nchangetype: add\n{classes}{more_classes}cn: {u}\nsn: {u}\nnovaInstanceUUID: {u}\n{extra}"
    managed = f"dn: cn={managed_uuid},{container}\nchangetype: modify\n"
    def tombstone(extra="", more_classes=""):
        u = str(uuidlib.uuid4())
        return (f"dn: novaDeletedInstanceUUID={u},{container}\nchangetype: add\nobjectClass: top\nobjectClass: novaInstanceTombstone\n"
                f"{more_classes}novaDeletedInstanceUUID: {u}\nnovaLastEventTime: 20261201000000.000000Z\n{extra}")
    return {
        "add an entry carrying its own ACI": new('aci: (targetattr="*")(version 3.0; acl "x"; allow (all) userdn="ldap:///anyone";)\n'),
        "add a posixAccount with uidNumber 0 and a password": new(
            "uid: root2\nuidNumber: 0\ngidNumber: 0\nhomeDirectory: /root\nuserPassword: secret\n", "objectClass: posixAccount\n"),
        "add an instance with a password": new("userPassword: secret\n"),
        "add an instance with an attribute the tool never writes": new("description: x\n"),
        "strip novaInstance": managed + "delete: objectClass\nobjectClass: novaInstance\n",
        "add an ACI to a managed entry": managed + 'add: aci\naci: (targetattr="*")(version 3.0; acl "x"; allow (all) userdn="ldap:///anyone";)\n',
        "set a password on a managed entry": managed + "replace: userPassword\nuserPassword: secret\n",
        "change the UUID of a managed entry": managed + f"replace: novaInstanceUUID\nnovaInstanceUUID: {uuidlib.uuid4()}\n",
        "change cn and sn": managed + "replace: sn\nsn: pwned\n",
        "add a child under a managed entry": new().replace(f",{container}\n", f",cn={managed_uuid},{container}\n", 1),
        "rename a managed entry": f"dn: cn={managed_uuid},{container}\nchangetype: modrdn\nnewrdn: cn=renamed\ndeleteoldrdn: 1\n",
        # tombstones (what a deleted instance leaves): only the class and its three attributes
        "add a tombstone carrying its own ACI": tombstone('aci: (targetattr="*")(version 3.0; acl "x"; allow (all) userdn="ldap:///anyone";)\n'),
        "add a tombstone that is a person with a password": tombstone(
            "cn: t\nsn: t\nuserPassword: secret\n", "objectClass: person\n"),
        "add a tombstone under a managed entry": tombstone().replace(f",{container}\n", f",cn={managed_uuid},{container}\n", 1),
    }


def test_least_privilege_account_does_its_job_and_nothing_more(tool, container):
    suffix = ENV["NOVA_DIRSVC_TEST_SUFFIX"]
    r = record()
    assert tool.run("register", "--event", "-", input=json.dumps(r)).returncode == 0
    assert tool.run("register", "--event", "-", input=json.dumps(dict(r, user_name="bob"))).returncode == 0
    assert tool.run("unregister", "--instance-uuid", r["instance_uuid"]).returncode == 0
    kept = record()
    managed_uuid = kept["instance_uuid"]
    assert tool.run("register", "--event", "-", input=json.dumps(kept)).returncode == 0
    # a password hash on a managed entry, set by the administrator: the account must not read it
    ldap("ldapmodify", input=f"dn: cn={managed_uuid},{container}\nchangetype: modify\nadd: objectClass\nobjectClass: simpleSecurityObject\n-\nadd: userPassword\nuserPassword: {{SSHA}}c2VjcmV0c2VjcmV0\n")
    proc = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", URI, "-D", SERVICE_DN, "-y", SERVICE_PW_FILE,
                           "-b", f"cn={managed_uuid},{container}", "-s", "base", "(objectClass=*)", "*", "userPassword", "aci"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and managed_uuid in proc.stdout
    assert "userPassword" not in proc.stdout and "aci" not in proc.stdout.lower().replace("novainstance", "")
    ldap("ldapadd", input=f"dn: cn=foreign,{container}\nobjectClass: person\ncn: foreign\nsn: x\n")
    # instance entries (novaInstance) that also carry what the account must never delete
    # (docs/security.md): a description, an identity (inetOrgPerson uid), a posixAccount
    carrying = {}
    for name, extra in (("description", "description: the CEO's laptop\n"),
                        ("uid", "objectClass: inetOrgPerson\nuid: ceo\n"),
                        ("posixAccount", "objectClass: posixAccount\nuid: root2\nuidNumber: 0\ngidNumber: 0\nhomeDirectory: /root\n")):
        uuid = str(uuidlib.uuid4())
        carrying[name] = uuid
        ldap("ldapadd", input=f"dn: cn={uuid},{container}\nobjectClass: top\nobjectClass: person\nobjectClass: novaInstance\n"
                             f"cn: {uuid}\nsn: {uuid}\nnovaInstanceUUID: {uuid}\n{extra}")
    before = dump(suffix)
    attempts = {
        "add outside the instances": f"dn: cn=x,ou=Services,{suffix}\nchangetype: add\nobjectClass: person\ncn: x\nsn: x\n",
        "add a non-instance entry": f"dn: cn=y,{container}\nchangetype: add\nobjectClass: person\ncn: y\nsn: y\n",
        "modify the suffix": f"dn: {suffix}\nchangetype: modify\nreplace: description\ndescription: pwned\n",
        "modify a foreign entry": f"dn: cn=foreign,{container}\nchangetype: modify\nreplace: sn\nsn: pwned\n",
        "delete a foreign entry": f"dn: cn=foreign,{container}\nchangetype: delete\n",
        "change the ACI": f"dn: ou=Instances,{suffix}\nchangetype: modify\nadd: aci\naci: (targetattr=\"*\")(version 3.0; acl \"x\"; allow (all) userdn=\"ldap:///anyone\";)\n",
        "raise its own limits": f"dn: {SERVICE_DN}\nchangetype: modify\nreplace: nsSizeLimit\nnsSizeLimit: -1\n",
        "delete an instance entry that carries a password": f"dn: cn={managed_uuid},{container}\nchangetype: delete\n",
    }
    for name, uuid in carrying.items():
        attempts[f"delete an instance entry that carries {name}"] = f"dn: cn={uuid},{container}\nchangetype: delete\n"
    attempts.update(confinement_attacks(container, managed_uuid))
    for name, change in attempts.items():
        proc = as_service(tool, change)
        assert proc.returncode == 50, f"{name}: exit {proc.returncode} {proc.stderr}"
    # anonymously: nothing at all
    for name, change in confinement_attacks(container, managed_uuid).items():
        proc = subprocess.run(["ldapmodify", "-x", "-H", URI], input=change, capture_output=True, text=True)
        assert proc.returncode in (50, 53), f"anonymous {name}: exit {proc.returncode} {proc.stderr}"
    assert dump(suffix) == before
    # and the account still does its whole job: reconcile reads every attribute it compares
    # and the timestamps of its grace period, and finds nothing to change
    proc = tool.run("reconcile", "--instances", "-", "--check", input=json.dumps([kept]))
    assert proc.returncode == 0, proc.stderr


def test_a_queued_event_refused_for_good_is_reported_not_called_applied(tool, container):
    blocked = str(uuidlib.uuid4())
    ldap("ldapadd", input=f"dn: cn={blocked},{container}\nobjectClass: person\ncn: {blocked}\nsn: x\n")
    down = f"ldap://127.0.0.1:{free_port()}"
    assert tool.run("register", "--event", "-", input=json.dumps(record(blocked)), uri=down).returncode == 75
    # the directory is back: this event drains the spool first, and is itself refused there
    proc = tool.run("register", "--event", "-", input=json.dumps(record(blocked, user_name="again")))
    assert proc.returncode == 77, proc.stdout + proc.stderr
    assert "novaInstance" in proc.stderr
    assert len(list((tool.spool_dir / "failed").glob("*.event"))) == 2
    assert list(tool.spool_dir.glob("*.event")) == []
