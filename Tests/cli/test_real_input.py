"""Real Nova input (issue 10): Nova's own notification samples through `apply`, what Nova's
hooks and API really put in a record, and notifications the register/unregister commands do
not act on. ldapsearch judges the directory."""
import json

from helpers import FIXTURES, managed, record

UUID = "178b0921-8f85-4257-88b6-2e743b5a975c"  # the instance of Nova's notification samples


def apply(tool, sample, **changes):
    note = json.loads((FIXTURES / sample).read_text())
    note.update(changes)
    return tool.run("apply", "--event", "-", input=json.dumps(note))


def test_apply_follows_an_instance_through_nova_samples(tool, container):
    proc = apply(tool, "instance-create-end.json")
    assert proc.returncode == 0 and f"registered {UUID}: added" in proc.stdout, proc.stderr
    assert managed(container)[UUID]["macaddress"] == ["fa:16:3e:4c:2c:30"]
    proc = apply(tool, "instance-interface_attach-end.json")
    assert proc.returncode == 0 and f"updated {UUID}: updated" in proc.stdout, proc.stderr
    assert sorted(managed(container)[UUID]["macaddress"]) == ["00:0c:29:0d:11:74", "fa:16:3e:4c:2c:30"]
    proc = apply(tool, "instance-interface_detach-end.json")
    assert proc.returncode == 0, proc.stderr
    assert managed(container)[UUID]["macaddress"] == ["fa:16:3e:4c:2c:30"]
    proc = apply(tool, "instance-rebuild-end.json")
    assert proc.returncode == 0, proc.stderr
    assert managed(container)[UUID]["novaimageuuid"] == ["a2459075-d96c-40d5-893e-577ff92e721c"]
    # instance.update carries the complete current list of addresses: empty means no ports
    proc = apply(tool, "instance-update.json")
    assert proc.returncode == 0, proc.stderr
    entry = managed(container)[UUID]
    assert "macaddress" not in entry and "novaipaddress" not in entry
    assert entry["novaimageuuid"] == ["155d900f-4e14-4e4c-a73d-069cbf4541e6"]
    # something else happens to the instance: acknowledged, nothing written
    before = managed(container)
    proc = apply(tool, "instance-power_off-end.json")
    assert proc.returncode == 0 and f"ignored {UUID}: instance.power_off.end" in proc.stdout, proc.stderr
    assert managed(container) == before
    assert tool.log_lines()[-1]["outcome"] == "ignored" and tool.log_lines()[-1]["instance_uuid"] == UUID
    proc = apply(tool, "instance-delete-end.json")
    assert proc.returncode == 0 and f"unregistered {UUID}: deleted" in proc.stdout, proc.stderr
    assert managed(container) == {}


def test_an_update_never_creates_an_entry(tool, container):
    # an instance.update that arrives after the delete must not bring the instance back
    proc = apply(tool, "instance-rebuild-end.json")
    assert proc.returncode == 0 and "absent" in proc.stdout, proc.stderr
    assert managed(container) == {}


def test_every_delete_nova_sends_unregisters(tool, container):
    for sample in ("instance-delete-end_not_scheduled.json", "instance-delete-end_compute_down.json"):
        note = json.loads((FIXTURES / sample).read_text())
        uuid = note["payload"]["nova_object.data"]["uuid"]
        assert tool.run("register", "--event", "-", input=json.dumps(record(uuid))).returncode == 0
        proc = tool.run("unregister", "--event", "-", input=json.dumps(note))
        assert proc.returncode == 0 and "deleted" in proc.stdout, proc.stderr
        assert uuid not in managed(container)


def test_register_and_unregister_ignore_what_they_do_not_act_on(tool, container):
    for command, sample in (("register", "instance-update.json"), ("register", "instance-power_off-end.json"),
                            ("unregister", "instance-interface_detach-end.json")):
        proc = tool.run(command, "--event", str(FIXTURES / sample))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"ignored {UUID}:")
        line = tool.log_lines()[-1]
        assert line["outcome"] == "ignored" and line["instance_uuid"] == UUID and line["action"] == command
    assert managed(container) == {}


def test_what_nova_really_puts_in_a_record_registers(tool, container):
    # sanitize_hostname keeps Latin-1 letters; use_forwarded_for stores the X-Forwarded-For
    # list; a hook context may have no remote address at all
    r = record(hostname="datanode-ü1", user_remote_address="203.0.113.7, 10.0.0.1")
    proc = tool.run("register", "--event", "-", input=json.dumps(r, ensure_ascii=False))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    entry = managed(container)[r["instance_uuid"]]
    assert entry["novahostname"] == ["datanode-ü1"]
    assert entry["novauserremoteaddress"] == ["203.0.113.7"]
    r2 = record(user_remote_address=None)
    proc = tool.run("register", "--event", "-", input=json.dumps(r2))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "novauserremoteaddress" not in managed(container)[r2["instance_uuid"]]


def test_one_unusable_value_does_not_keep_the_instance_out(tool, container):
    r = record(mac_address="not-a-mac")
    proc = tool.run("register", "--event", "-", input=json.dumps(r))
    assert proc.returncode == 0, proc.stderr
    assert "mac_address" in proc.stderr and "left out" in proc.stderr
    entry = managed(container)[r["instance_uuid"]]
    assert "macaddress" not in entry and entry["novaprojectname"] == ["admin"]
