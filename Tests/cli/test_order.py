"""Events in order by Nova's clock (issue 19): a notification older than what was applied to its
instance is stale and not applied, across restarts, redeliveries and another serve process. The
state is in the directory (the entry's novaLastEventTime, the tombstone a delete leaves), which
ldapsearch (as Directory Manager) judges.

The notifications are Nova's own samples in oslo.messaging's envelope, with the timestamps a
test needs (the order Nova published them in is not the order of its clock: a create.end from a
compute host can reach the bus after the delete.end nova-api sent for the same instance)."""
import copy
import json
import signal
import uuid as uuidlib

import pytest

from helpers import ROOT, managed, search
from serve_helpers import AMQP_PORT, Serve, publish_raw, wait_until

pytestmark = pytest.mark.skipif(not AMQP_PORT, reason="no test broker: run scripts/test.sh")

SAMPLES = ROOT / "Tests/Fixtures/nova"


def envelope(sample, uuid, timestamp, **data):
    """A Nova sample as oslo.messaging's messagingv2 driver puts it on the wire."""
    body = json.loads((SAMPLES / sample).read_text())
    payload = copy.deepcopy(body["payload"])
    payload["nova_object.data"].update(uuid=uuid, **data)
    message = {"message_id": str(uuidlib.uuid4()), "publisher_id": "nova-compute:compute-01", "priority": "INFO",
               "event_type": body["event_type"], "payload": payload, "timestamp": timestamp,
               "_context_project_name": "demo", "_context_user_name": "alice", "_context_remote_address": None}
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)}).encode()


def send(serve, *bodies):
    for body in bodies:
        publish_raw(serve.exchange, "versioned_notifications.info", body)


def tombstones(container):
    return {a["novadeletedinstanceuuid"][0]: a["novalasteventtime"][0]
            for a in search(container, "one", "(objectClass=novaInstanceTombstone)", "novaDeletedInstanceUUID",
                            "novaLastEventTime").values()}


def log_lines(serve):
    return [json.loads(line) for line in serve.log_file.read_text().splitlines()] if serve.log_file.exists() else []


def test_a_late_create_after_the_delete_is_stale_and_the_entry_carries_its_time(tmp_path, container):
    serve = Serve(tmp_path, container).start()
    try:
        uuid = str(uuidlib.uuid4())
        create = envelope("instance-create-end.json", uuid, "2026-12-01 09:00:00.000001")
        send(serve, create)
        entry = wait_until(lambda: managed(container).get(uuid), what="the entry")
        assert entry["novalasteventtime"] == ["20261201090000.000001Z"]
        # an update older than the create: stale, the host name stays
        send(serve, envelope("instance-update.json", uuid, "2026-12-01 08:59:59.000000", host_name="older"))
        # a newer one: applied, and the time moves on
        send(serve, envelope("instance-update.json", uuid, "2026-12-01 09:00:05.000000", host_name="newer"))
        wait_until(lambda: managed(container)[uuid].get("novahostname") == ["newer"], what="the newer update")
        assert managed(container)[uuid]["novalasteventtime"] == ["20261201090005.000000Z"]
        send(serve, envelope("instance-delete-end.json", uuid, "2026-12-01 09:10:00.000000"))
        wait_until(lambda: uuid not in managed(container), what="the delete")
        assert tombstones(container) == {uuid: "20261201091000.000000Z"}
        # the create again (redelivered), and a create.end stamped before the delete that
        # reached the bus after it: both stale, the instance stays deleted
        send(serve, create, envelope("instance-create-end.json", uuid, "2026-12-01 09:09:59.999999"))
        wait_until(lambda: [l["outcome"] for l in log_lines(serve) if l.get("instance_uuid") == uuid].count("stale") == 3,
                   what="three stale events in the event log")
        assert uuid not in managed(container)
        stale = [l for l in log_lines(serve) if l["outcome"] == "stale"]
        assert [l["event_time"] for l in stale] == ["2026-12-01T08:59:59.000000Z", "2026-12-01T09:00:00.000001Z",
                                                   "2026-12-01T09:09:59.999999Z"]
        assert serve.stop() == 0
        assert "stale=3" in serve.output()
    finally:
        serve.stop(signal.SIGKILL)


def test_the_order_survives_kill_9_and_another_serve_process(tmp_path, container):
    """What orders the events is in the directory: a serve killed and started again, or
    another serve with a spool of its own (a standby taking over), refuses the same late
    create; an instance never deleted is created by a late-arriving create as usual."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = Serve(tmp_path / "a", container, name="a").start()
    uuid, other = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    create = envelope("instance-create-end.json", uuid, "2026-12-01 10:00:00.000000")
    try:
        send(first, create, envelope("instance-delete-end.json", uuid, "2026-12-01 10:05:00.000000"))
        wait_until(lambda: uuid in tombstones(container), what="the tombstone")
        first.kill()
        second = Serve(tmp_path / "b", container, name="b", exchange=first.exchange, queue=first.queue).start()
        send(second, create, envelope("instance-create-end.json", other, "2026-12-01 09:00:00.000000"))
        wait_until(lambda: other in managed(container), what="the other instance")
        wait_until(lambda: any(l["outcome"] == "stale" for l in log_lines(second)), what="the stale create")
        assert uuid not in managed(container)
        assert second.stop() == 0
    finally:
        first.stop(signal.SIGKILL)


def test_records_without_a_time_are_applied_as_they_come(tmp_path, container):
    """The CLI's, the hook's and HTTP's records carry no time: applied without ordering, and
    an entry they make carries no time either (the next notification stamps it)."""
    from helpers import BIN, record
    import subprocess
    serve = Serve(tmp_path, container)
    r = record()
    proc = subprocess.run([BIN, "register", "--config", str(serve.config), "--event", "-"], input=json.dumps(r),
                          capture_output=True, text=True, env=Serve.env())
    assert proc.returncode == 0, proc.stderr
    assert "novalasteventtime" not in managed(container)[r["instance_uuid"]]


def test_reconcile_removes_tombstones_older_than_a_week_and_keeps_the_others(tmp_path, container, tool):
    from helpers import record
    serve = Serve(tmp_path, container).start()
    old, recent = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    send(serve, envelope("instance-delete-end.json", old, "2020-01-01 00:00:00.000000"),
         envelope("instance-delete-end.json", recent, "2099-01-01 00:00:00.000000"))
    wait_until(lambda: set(tombstones(container)) == {old, recent}, what="two tombstones")
    assert serve.stop() == 0
    dry = tool.run("reconcile", "--instances", "-", "--dry-run", input=json.dumps([record()]))
    assert dry.returncode == 0, dry.stderr
    assert set(tombstones(container)) == {old, recent}  # a dry run removes nothing
    proc = tool.run("reconcile", "--instances", "-", input=json.dumps([record()]))
    assert proc.returncode == 0, proc.stderr
    assert "expired tombstones removed 1" in proc.stderr
    assert set(tombstones(container)) == {recent}


def test_two_competing_serves_with_500_create_delete_pairs_leave_no_zombie(tmp_path, container):
    """Competing consumers (single_active_consumer = false): a create and the delete of the
    same instance, published one after the other, are taken by two processes at once; the
    delete may be applied first. By Nova's clock the create is then stale: no deleted instance
    stays in the directory (before: 83 of 500)."""
    from nova_bus import Publisher, context
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    competing = "single_active_consumer = false\nprefetch = 8\n"
    a = Serve(tmp_path / "a", container, name="a", extra_amqp=competing).start()
    b = Serve(tmp_path / "b", container, name="b", exchange=a.exchange, queue=a.queue, extra_amqp=competing).start()
    try:
        publisher = Publisher(f"rabbit://guest:guest@127.0.0.1:{AMQP_PORT}/", exchange=a.exchange)
        ctxt = context()
        uuids = [str(uuidlib.uuid4()) for _ in range(500)]
        for uuid in uuids:
            publisher.send_sample("instance-create-end.json", uuid, ctxt)
            publisher.send_sample("instance-delete-end.json", uuid, ctxt)
        publisher.close()
        wait_until(lambda: len(tombstones(container)) == 500, timeout=120, what="500 deletes applied")
        wait_until(lambda: sum(int(s.stats().get("received", 0)) for s in (a, b)) == 1000, timeout=60, what="all 1,000 taken")
        assert managed(container) == {}  # no zombie
        assert a.stop() == 0 and b.stop() == 0
        assert all(int(s.stats()["received"]) > 0 for s in (a, b))  # both took a share
    finally:
        a.stop(signal.SIGKILL)
        b.stop(signal.SIGKILL)
