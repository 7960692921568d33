"""register / unregister / show / schema, end to end: the built binary, a real 389-ds,
ldapsearch as the judge."""
import json
import uuid
import os
import subprocess
from pathlib import Path

import pytest

from helpers import BIN, free_port, LDAPI, SERVICE_PW_FILE, URI, dump, fixture_text, ldap, search, assert_within_budget, reference_seconds

RECORD = {
    "image_uuid": "035c2bc7-f2be-4607-afcf-c3b6237e9fe5",
    "instance_uuid": "2cb805cf-debe-43ae-a555-28a4a5d84694",
    "mac_address": "fa:16:3e:56:50:29", "project_name": "admin",
    "user_name": "admin", "user_remote_address": "192.168.122.97",
}
OBJECT_CLASSES = {"top", "person", "organizationalPerson", "inetOrgPerson", "ieee802Device", "novaInstance"}
RECORD_FLAGS = ["--instance-uuid", RECORD["instance_uuid"], "--image-uuid", RECORD["image_uuid"],
                "--mac-address", RECORD["mac_address"], "--project-name", "admin", "--user-name", "admin",
                "--user-remote-address", "192.168.122.97"]
RECORD_ENTRY = {
    "cn": [RECORD["instance_uuid"]], "sn": [RECORD["instance_uuid"]],
    "novainstanceuuid": [RECORD["instance_uuid"]], "novaimageuuid": [RECORD["image_uuid"]],
    "macaddress": ["fa:16:3e:56:50:29"], "novaprojectname": ["admin"], "novausername": ["admin"],
    "novauserremoteaddress": ["192.168.122.97"],
}
VERSIONED_ENTRY = {
    "cn": ["178b0921-8f85-4257-88b6-2e743b5a975c"], "sn": ["178b0921-8f85-4257-88b6-2e743b5a975c"],
    "novainstanceuuid": ["178b0921-8f85-4257-88b6-2e743b5a975c"],
    "novaimageuuid": ["155d900f-4e14-4e4c-a73d-069cbf4541e6"], "macaddress": ["fa:16:3e:4c:2c:30"],
    "novahostname": ["some-server"], "novaipaddress": ["192.168.1.3"],
    "novaprojectid": ["6f70656e737461636b20342065766572"], "novauserid": ["fake"],
}
LEGACY_ENTRY = {
    "cn": ["4f0c1a3e-93a5-4b7c-b5a1-6c3f3e0d2a11"], "sn": ["4f0c1a3e-93a5-4b7c-b5a1-6c3f3e0d2a11"],
    "novainstanceuuid": ["4f0c1a3e-93a5-4b7c-b5a1-6c3f3e0d2a11"],
    "novaimageuuid": ["8c0f3e3b-6f4e-4d55-9d0c-2a1a1e9b7f10"], "macaddress": ["fa:16:3e:a0:5c:40"],
    "novaprojectname": ["demo"], "novausername": ["alice"], "novauserremoteaddress": ["192.168.122.97"],
    "novahostname": ["web-1"], "novaipaddress": ["10.0.0.11", "fd00::11"],
    "novaprojectid": ["ef3f81058a934157b42454e3fc63c213"], "novauserid": ["609544a5d1de4023b44bb71d624281ab"],
}


def assert_exact_entry(container, uuid, expected):
    """The entry at cn=<uuid>,container has exactly these object classes and user attributes."""
    entries = search(container, "one", f"(cn={uuid})")
    dn = f"cn={uuid},{container}".lower()
    assert list(entries) == [dn]
    attrs = dict(entries[dn])
    assert set(attrs.pop("objectclass")) == OBJECT_CLASSES
    assert {k: sorted(v) for k, v in attrs.items()} == {k: sorted(v) for k, v in expected.items()}


def envelope(text):
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(json.loads(text))})


# --- every input form --------------------------------------------------------------------

def test_register_from_flags(tool, container):
    proc = tool.run("register", *RECORD_FLAGS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"registered {RECORD['instance_uuid']}: added"
    assert_exact_entry(container, RECORD["instance_uuid"], RECORD_ENTRY)


@pytest.mark.parametrize("via_stdin", [False, True])
def test_register_from_record_json(tool, container, tmp_path, via_stdin):
    if via_stdin:
        proc = tool.run("register", "--event", "-", input=json.dumps(RECORD))
    else:
        path = tmp_path / "record.json"
        path.write_text(fixture_text("record.json"))
        proc = tool.run("register", "--event", str(path))
    assert proc.returncode == 0, proc.stderr
    assert_exact_entry(container, RECORD["instance_uuid"], RECORD_ENTRY)


@pytest.mark.parametrize("form,create,delete,uuid,expected", [
    ("versioned", fixture_text("instance-create-end.json"), fixture_text("instance-delete-end.json"),
     "178b0921-8f85-4257-88b6-2e743b5a975c", VERSIONED_ENTRY),
    ("oslo envelope", fixture_text("instance-create-end.oslo-envelope.json"), envelope(fixture_text("instance-delete-end.json")),
     "178b0921-8f85-4257-88b6-2e743b5a975c", VERSIONED_ENTRY),
    ("legacy", fixture_text("compute-instance-create-end.legacy.json"), fixture_text("compute-instance-delete-end.legacy.json"),
     "4f0c1a3e-93a5-4b7c-b5a1-6c3f3e0d2a11", LEGACY_ENTRY),
])
def test_notifications_register_and_unregister(tool, container, form, create, delete, uuid, expected):
    proc = tool.run("register", "--event", "-", input=create)
    assert proc.returncode == 0, proc.stderr
    assert_exact_entry(container, uuid, expected)
    proc = tool.run("unregister", "--event", "-", input=delete)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"unregistered {uuid}: deleted"
    assert search(container, "one", "(objectClass=novaInstance)") == {}


@pytest.mark.parametrize("how", ["flags", "record"])
def test_unregister_from_flags_and_record(tool, container, how):
    assert tool.run("register", *RECORD_FLAGS).returncode == 0
    if how == "flags":
        proc = tool.run("unregister", "--instance-uuid", RECORD["instance_uuid"])
    else:
        proc = tool.run("unregister", "--event", "-", input=json.dumps({"instance_uuid": RECORD["instance_uuid"]}))
    assert proc.returncode == 0, proc.stderr
    assert search(container, "one", "(objectClass=novaInstance)") == {}


# --- idempotency ---------------------------------------------------------------------------

def test_register_is_idempotent_and_updates_only_changes(tool, container):
    assert tool.run("register", *RECORD_FLAGS).returncode == 0
    before = dump(container)
    proc = tool.run("register", *RECORD_FLAGS)
    assert proc.returncode == 0 and proc.stdout.strip().endswith(": unchanged")
    assert dump(container) == before  # not even modifyTimestamp moved

    changed = dict(RECORD, project_name="demo", mac_address=["fa:16:3e:56:50:29", "fa:16:3e:00:00:02"])
    proc = tool.run("register", "--event", "-", input=json.dumps(changed))
    assert proc.returncode == 0 and proc.stdout.strip().endswith(": updated"), proc.stderr
    assert_exact_entry(container, RECORD["instance_uuid"],
                       dict(RECORD_ENTRY, novaprojectname=["demo"], macaddress=["fa:16:3e:56:50:29", "fa:16:3e:00:00:02"]))

    # A notification for the same instance adds what it knows and leaves the rest alone.
    note = json.loads(fixture_text("instance-create-end.json"))
    note["payload"]["nova_object.data"]["uuid"] = RECORD["instance_uuid"]
    proc = tool.run("register", "--event", "-", input=json.dumps(note))
    assert proc.returncode == 0, proc.stderr
    entry = search(container, "one", f"(cn={RECORD['instance_uuid']})")
    attrs = next(iter(entry.values()))
    assert attrs["novaprojectname"] == ["demo"] and attrs["novauserremoteaddress"] == ["192.168.122.97"]
    assert attrs["novahostname"] == ["some-server"] and attrs["macaddress"] == ["fa:16:3e:4c:2c:30"]


def test_unregister_of_a_missing_entry_succeeds_and_says_so(tool, container):
    proc = tool.run("unregister", "--instance-uuid", "00000000-0000-4000-8000-000000000000")
    assert proc.returncode == 0, proc.stderr
    assert "absent" in proc.stdout
    assert tool.log_lines()[-1]["outcome"] == "absent"


# --- exit statuses -------------------------------------------------------------------------

def test_exit_64_usage(tool):
    assert tool.run("register").returncode == 64                                        # flags missing
    assert tool.run("register", "--event", "-", *RECORD_FLAGS, input="{}").returncode == 64  # both forms
    assert tool.run("unregister").returncode == 64
    assert tool.run("register", "--password", "x", *RECORD_FLAGS).returncode == 64     # no such flag: never argv
    proc = tool.run("register", *RECORD_FLAGS, base_dn="not a dn")
    assert proc.returncode == 64 and "base DN" in proc.stderr


def test_exit_65_names_the_field(tool, container):
    proc = tool.run("register", *RECORD_FLAGS[:-1], "192.168.122.300")
    assert proc.returncode == 65
    assert "user_remote_address: not an IPv4 or IPv6 address" in proc.stderr
    assert search(container, "one", "(objectClass=novaInstance)") == {}


def test_unreachable_queues_within_the_budget_75_or_69_without_a_spool(tool):
    import socket, time
    port = free_port()
    proc = tool.run("register", *RECORD_FLAGS, uri=f"ldap://127.0.0.1:{port}")
    assert proc.returncode == 75, proc.stderr
    assert "queued" in proc.stderr
    assert len(list(tool.spool_dir.glob("*.event"))) == 1
    # a server that accepts and never answers: the budget holds
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        reference = reference_seconds()
        start = time.monotonic()
        proc = tool.run("unregister", "--instance-uuid", RECORD["instance_uuid"],
                        uri=f"ldap://127.0.0.1:{listener.getsockname()[1]}", timeout="1")
        elapsed = time.monotonic() - start
    finally:
        listener.close()
    assert proc.returncode == 75, proc.stderr
    assert_within_budget(elapsed, 1, reference, "an unregister against a server that never answers")
    assert len(list(tool.spool_dir.glob("*.event"))) == 2
    # 69 only when the event cannot be queued either
    proc = tool.run("register", *RECORD_FLAGS, uri=f"ldap://127.0.0.1:{port}", spool_dir="/proc/nova-dirsvc-spool")
    assert proc.returncode == 69, proc.stderr
    assert "could not be queued" in proc.stderr


def test_exit_77_bad_credentials(tool, tmp_path):
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-password")
    wrong.chmod(0o600)
    proc = tool.run("register", *RECORD_FLAGS, password_file=str(wrong))
    assert proc.returncode == 77
    assert "invalidCredentials" in proc.stderr and "not-the-password" not in proc.stderr
    assert "not-the-password" not in tool.log_file.read_text()


def test_world_readable_password_file_is_refused(tool, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(open(SERVICE_PW_FILE).read())
    pw.chmod(0o644)
    proc = tool.run("register", *RECORD_FLAGS, password_file=str(pw))
    assert proc.returncode == 64 and "readable or writable by other users" in proc.stderr


def test_missing_base_dn_is_a_configuration_error_that_keeps_the_event(tool, container):
    # A base DN that does not exist: the server says noSuchObject for the new entry's parent.
    # That is the operator's configuration (64), named as such, and the event is kept queued.
    proc = subprocess.run([BIN, "register", *RECORD_FLAGS, "--uri", LDAPI, "--sasl-mech", "EXTERNAL",
                           "--base-dn", f"ou=nowhere,{container}", "--log-file", str(tool.log_file),
                           "--spool-dir", str(tool.spool_dir)], capture_output=True, text=True)
    assert proc.returncode == 64, proc.stderr
    assert f'the base DN "ou=nowhere,{container}" does not exist' in proc.stderr
    assert "queued" in proc.stderr
    assert len(list(tool.spool_dir.glob("*.event"))) == 1


def test_exit_1_other_refusal_keeps_the_event_with_its_reason(tool, container):
    # An entry with a child cannot be deleted (notAllowedOnNonLeaf): a refusal about this one
    # event, which is kept in failed/ with the reason, and the command exits 1.
    uuid = RECORD["instance_uuid"]
    assert tool.run("register", *RECORD_FLAGS).returncode == 0
    ldap("ldapadd", input=f"dn: cn=child,cn={uuid},{container}\nobjectClass: top\nobjectClass: device\ncn: child\n")
    proc = tool.run("unregister", "--instance-uuid", uuid)
    assert proc.returncode == 1, proc.stderr
    assert "notAllowedOnNonLeaf" in proc.stderr and "kept in" in proc.stderr
    failed = sorted((tool.spool_dir / "failed").glob("*.event"))
    assert len(failed) == 1
    assert json.loads(failed[0].read_text()) == {"version": 1, "action": "unregister", "instance_uuid": uuid}
    assert "notAllowedOnNonLeaf" in Path(str(failed[0]) + ".reason").read_text()
    assert not list(tool.spool_dir.glob("*.event"))  # not queued: it would block nothing, but never succeed


def test_foreign_entry_is_never_touched(tool, container):
    uuid = RECORD["instance_uuid"]
    ldap("ldapadd", input=f"dn: cn={uuid},{container}\nobjectClass: top\nobjectClass: person\ncn: {uuid}\nsn: not ours\n")
    before = dump(container)
    admin = ["--uri", LDAPI, "--sasl-mech", "EXTERNAL", "--base-dn", container, "--log-file", str(tool.log_file)]
    for argv in (["register", *RECORD_FLAGS], ["unregister", "--instance-uuid", uuid]):
        # as the administrator, who can see and could write it
        proc = subprocess.run([BIN, *argv, *admin], capture_output=True, text=True)
        assert proc.returncode == 77, proc.stderr
        assert "novaInstance" in proc.stderr
        # as the service account: its ACI shows the entry's object classes (to tell ours from
        # others') and lets it change nothing there: refused the same way
        proc = tool.run(*argv)
        assert proc.returncode == 77, proc.stderr
        assert "novaInstance" in proc.stderr
    assert dump(container) == before


# --- hostile and malformed input ------------------------------------------------------------
# A bad instance UUID (it names the entry) or input that is not an event: exit 65, the
# directory unchanged. Any other unusable value: left out with a warning that names it, and
# the rest of the instance registered (one odd value must not keep an instance out).

HOSTILE = [
    ("instance_uuid", "2cb805cf-debe-43ae-a555-28a4a5d84694,ou=Services"),
    ("instance_uuid", "*"),
    ("instance_uuid", "2cb805cf-debe-43ae-a555-28a4a5d8469)(cn=*"),
    ("instance_uuid", "../../etc"),
    ("instance_uuid", ""),
    ("image_uuid", "035c2bc7-f2be-4607-afcf-c3b6237e9fe5\n"),
    ("mac_address", "fa:16:3e:56:50:29,ou=x"),
    ("mac_address", ["fa:16:3e:56:50:29", 5]),
    ("project_name", "x" * 256),
    ("project_name", "nul\u0000byte"),
    ("project_name", "\u001b[31mred"),
    ("user_name", 12),
    ("user_name", None),
    ("user_remote_address", "192.168.122.97\r\ndn: cn=admin"),
    ("user_remote_address", "localhost"),
    ("hostname", "web-1,ou=Services"),
    ("hostname", "web\u0000"),
    ("hostname", "-x"),
    ("ip_addresses", ["10.0.0.1", "10.0.0.2)(objectClass=*"]),
    ("ip_addresses", "10.0.0.1\n"),
    ("project_id", "a b"),
    ("user_id", "x" * 65),
]


@pytest.mark.parametrize("field,value", HOSTILE, ids=[f"{field}-{i}" for i, (field, _) in enumerate(HOSTILE)])
def test_hostile_fields_never_reach_the_directory(tool, container, field, value):
    assert tool.run("register", *RECORD_FLAGS).returncode == 0
    before = dump(container)
    proc = tool.run("register", "--event", "-", input=json.dumps(dict(RECORD, **{field: value})))
    named = "ip_address" if field == "ip_addresses" else field
    if field == "instance_uuid":
        assert proc.returncode == 65, proc.stderr
        assert proc.stderr.startswith(f"nova-dirsvc: error: {named}:"), proc.stderr
        assert tool.log_lines()[-1]["outcome"] == "rejected"
    elif value is None:  # null: not known, nothing written or removed, nothing to warn about
        assert proc.returncode == 0 and "unchanged" in proc.stdout and proc.stderr == "", proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
        assert f"warning: register {RECORD['instance_uuid']}: {named}:" in proc.stderr and "left out" in proc.stderr
        assert "registered" in proc.stdout and "unchanged" in proc.stdout  # the bad value was not written
        accepted = [line for line in tool.log_lines() if line["outcome"] == "accepted"]
        assert accepted and accepted[-1]["warnings"][0].startswith(f"{named}:")
    assert dump(container) == before


MALFORMED = [
    ("truncated", json.dumps(RECORD)[:-10].encode()),
    ("not json", b"instance_uuid=2cb805cf"),
    ("empty", b""),
    ("array", b"[]"),
    ("non-UTF-8", json.dumps(RECORD).encode().replace(b"admin", b"adm\xff\xfen")),
    ("over-long", b'{"instance_uuid": "' + b"a" * (1 << 20) + b'"}'),
    ("wrong uuid in a notification", fixture_text("instance-create-end.json").replace(
        "178b0921-8f85-4257-88b6-2e743b5a975c", "178b0921-8f85-4257-88b6").encode()),
    ("unknown event type without a payload", b'{"event_type": "instance.create.end"}'),
    ("envelope with bad inner", b'{"oslo.version": "2.0", "oslo.message": "[1,"}'),
]


# ids: the names, never the data (a 1 MiB id goes into PYTEST_CURRENT_TEST, past the
# environment's size limit, and every child process then fails to start)
@pytest.mark.parametrize("name,data", MALFORMED, ids=[name for name, _ in MALFORMED])
def test_malformed_events(tool, container, name, data):
    assert tool.run("register", *RECORD_FLAGS).returncode == 0
    before = dump(container)
    proc = tool.run("register", "--event", "-", input=data)
    assert proc.returncode == 65, proc.stderr
    assert dump(container) == before
    assert tool.log_lines()[-1]["outcome"] == "rejected"


@pytest.mark.parametrize("path,value,field", [
    (("uuid",), "178b0921-8f85-4257-88b6-2e743b5a975c,ou=x", "payload.nova_object.data.uuid"),
    (("host_name",), "some-server)(cn=*", "payload.nova_object.data.host_name"),
    (("image_uuid",), "155d900f-4e14-4e4c-a73d-069cbf4541e6\r\n", "payload.nova_object.data.image_uuid"),
    (("tenant_id",), 42, "payload.nova_object.data.tenant_id"),
    (("ip_addresses",), "not a list", "payload.nova_object.data.ip_addresses"),
], ids=["uuid", "host_name", "image_uuid", "tenant_id", "ip_addresses"])
def test_hostile_notification_fields(tool, container, path, value, field):
    assert tool.run("register", *RECORD_FLAGS).returncode == 0
    before = dump(container)
    note = json.loads(fixture_text("instance-create-end.json"))
    note["payload"]["nova_object.data"][path[0]] = value
    for text in (json.dumps(note), json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(note)})):
        proc = tool.run("register", "--event", "-", input=text)
        if path == ("uuid",):
            assert proc.returncode == 65, proc.stderr
            assert f"error: {field}:" in proc.stderr, proc.stderr
        else:  # left out, named by its path in the notification; the instance registers
            assert proc.returncode == 0, proc.stderr
            assert f"{field}" in proc.stderr and "left out" in proc.stderr, proc.stderr
    if path == ("uuid",):
        assert dump(container) == before
    else:
        entry = search(container, "one", "(novaInstanceUUID=178b0921-8f85-4257-88b6-2e743b5a975c)")
        assert len(entry) == 1


def test_metacharacters_in_names_are_stored_verbatim(tool, container):
    record = dict(RECORD, project_name="a,b=c+d;<e>#\\ \"q\" *(x)", user_name="Lučić ☃")
    proc = tool.run("register", "--event", "-", input=json.dumps(record))
    assert proc.returncode == 0, proc.stderr
    assert_exact_entry(container, RECORD["instance_uuid"],
                       dict(RECORD_ENTRY, novaprojectname=[record["project_name"]], novausername=["Lučić ☃"]))
    show = tool.run("show", "--instance-uuid", RECORD["instance_uuid"], "--format", "json")
    assert json.loads(show.stdout)["attributes"]["novaProjectName"] == [record["project_name"]]


# --- the log, show, schema, configuration --------------------------------------------------

def test_every_event_is_logged_without_secrets(tool):
    tool.run("register", *RECORD_FLAGS)
    tool.run("register", "--event", "-", input="{bad")
    tool.run("unregister", "--instance-uuid", RECORD["instance_uuid"])
    lines = tool.log_lines()
    assert [(l["action"], l["outcome"]) for l in lines] == [("register", "added"), ("register", "rejected"), ("unregister", "deleted")]
    assert lines[0]["record"] == RECORD and lines[0]["instance_uuid"] == RECORD["instance_uuid"]
    assert all(l["time"].endswith("Z") for l in lines)
    assert open(SERVICE_PW_FILE).read().strip() not in tool.log_file.read_text()


def test_log_failure_never_loses_the_event(tool, container):
    proc = tool.run("register", *RECORD_FLAGS, log_file="/nonexistent/dir/events.log")
    assert proc.returncode == 0
    assert "warning: cannot open the event log" in proc.stderr
    assert search(container, "one", "(objectClass=novaInstance)") != {}


def test_show(tool):
    assert tool.run("show", "--instance-uuid", RECORD["instance_uuid"]).returncode == 1
    tool.run("register", *RECORD_FLAGS)
    ldif = tool.run("show", "--instance-uuid", RECORD["instance_uuid"]).stdout
    assert f"novaInstanceUUID: {RECORD['instance_uuid']}" in ldif and "createTimestamp:" in ldif


def test_schema_command_prints_the_files(tool):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for fmt, name in [("389ds", "98nova-dirsvc.ldif"), ("openldap", "nova-dirsvc.openldap.ldif"),
                      ("389ds-online", "nova-dirsvc.389ds-online.ldif")]:
        proc = tool.run("schema", "--format", fmt, connection=False)
        assert proc.stdout == open(os.path.join(root, "schema", name)).read()


def test_settings_from_config_file_and_environment(tool, container, tmp_path):
    conf = tmp_path / "nova-dirsvc.conf"
    conf.write_text(f"[DEFAULT]\nlog_file = {tool.log_file}\n[ldap]\nuri = {URI}\nbind_dn = {tool.connection_args()[3]}\n"
                    f"base_dn = ou=wrong,{container}\ntimeout = 5\n")
    env = dict(os.environ, NOVA_DIRSVC_PASSWORD_FILE=SERVICE_PW_FILE, NOVA_DIRSVC_BASE_DN=container)
    proc = subprocess.run([BIN, "register", *RECORD_FLAGS, "--config", str(conf)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr   # environment's base DN won over the file's
    assert_exact_entry(container, RECORD["instance_uuid"], RECORD_ENTRY)
    proc = subprocess.run([BIN, "unregister", "--instance-uuid", RECORD["instance_uuid"], "--config", str(conf),
                           "--base-dn", container], capture_output=True, text=True,
                          env=dict(os.environ, NOVA_DIRSVC_PASSWORD=open(SERVICE_PW_FILE).read()))
    assert proc.returncode == 0, proc.stderr   # the password from the environment


def test_ldap_conf_uri_base_and_cacert_are_honoured(tool, container, tmp_path):
    """With no --uri, --base-dn or --ca-cert, libldap's own ldap.conf (here via LDAPCONF) supplies them."""
    conf = tmp_path / "ldap.conf"
    conf.write_text(f"URI {os.environ['NOVA_DIRSVC_TEST_LDAPS_URI']}\nBASE {container}\n"
                    f"TLS_CACERT {os.environ['NOVA_DIRSVC_TEST_CA_CERT']}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDAP")}
    env["LDAPCONF"] = str(conf)
    argv = [BIN, "register", *RECORD_FLAGS, "--bind-dn", tool.connection_args()[3], "--password-file", SERVICE_PW_FILE,
            "--log-file", str(tool.log_file), "--spool-dir", str(tool.spool_dir)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert search(container, "one", f"(cn={RECORD['instance_uuid']})") != {}


def test_reconcile_shows_a_progress_bar_on_a_terminal(tool, container):
    import pty
    records = [dict(RECORD, instance_uuid=str(uuid.uuid4())) for _ in range(3000)]  # a few seconds of adds
    controller, terminal = pty.openpty()
    records_file = Path(tool.log_file).parent / "records.json"
    records_file.write_text(json.dumps(records))
    try:
        # the terminal is read while the tool runs: a terminal nobody reads fills up and blocks
        # its writes (the tool redraws the bar in time, so a slow run writes more: on a loaded
        # machine this test once waited for itself for half an hour)
        with open(records_file, "rb") as stdin:
            proc = subprocess.Popen([BIN, "reconcile", "--instances", "-", *tool.connection_args()], stdin=stdin,
                                    stdout=subprocess.DEVNULL, stderr=terminal)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the tool closed its side
                break
            if not chunk:
                break
            shown += chunk
        proc.wait(timeout=600)
    finally:
        os.close(controller)
    assert proc.returncode == 0
    assert b"\r[" in shown and b"] 3000/3000" in shown, shown[-300:]
    # not on a pipe
    proc = tool.run("reconcile", "--check", "--instances", "-", input=json.dumps(records))
    assert proc.returncode == 0 and "\r[" not in proc.stderr


@pytest.mark.parametrize("command", ["", "register", "unregister", "apply", "flush", "reconcile", "show", "schema",
                                     "settings", "check-config", "serve"])
def test_help_is_wrapped_once_on_80_columns(command):
    """Issue 21: the text under OVERVIEW is written to fit 80 columns, so a terminal of 80 shows
    it as written (ArgumentParser wraps every line longer than the terminal again: a hand-wrapped
    line of 86 became a line and a stray word)."""
    def discussion(columns):
        proc = subprocess.run([BIN, *([command] if command else []), "--help"], capture_output=True, text=True,
                              env=dict(os.environ, COLUMNS=str(columns)))
        assert proc.returncode == 0, proc.stderr
        text = proc.stdout.split("USAGE:")[0]
        return text.split("\n\n", 1)[1] if "\n\n" in text else ""  # after the OVERVIEW paragraph
    wide = discussion(500)
    assert discussion(80) == wide
    assert all(len(line) <= 80 for line in wide.splitlines())
