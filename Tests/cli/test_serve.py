"""`nova-dirsvc serve` (issue 11): Nova's notifications, published by the real publisher
(oslo.messaging's Notifier with Nova's RequestContext) on a real RabbitMQ, into the real
389-ds; ldapsearch checks what the service wrote."""
import json
import os
import signal
import subprocess
import sys
import uuid as uuidlib

import pytest

from helpers import ENV, ROOT, ldap, managed, search
from nova_bus import Publisher, context, instance_uuids
from serve_helpers import AMQP_PORT, Serve, amqp_url, publish_raw, queue_depth, wait_until

pytestmark = pytest.mark.skipif(not AMQP_PORT, reason="no test broker: run scripts/test.sh")


@pytest.fixture
def serve(tmp_path, container):
    service = Serve(tmp_path, container)
    yield service
    if service.proc and service.proc.poll() is None:
        service.kill()


@pytest.fixture
def publisher(serve):
    p = Publisher(amqp_url(), exchange=serve.exchange)
    yield p
    p.close()


def entry(container, uuid):
    return managed(container).get(uuid)


def test_each_notification_does_what_its_event_type_says(serve, publisher, container):
    serve.start()
    uuid = str(uuidlib.uuid4())
    ctxt = context(project_name="Projekt Größe", user_name="alice")
    publisher.send_sample("instance-create-end.json", uuid, ctxt)
    created = wait_until(lambda: entry(container, uuid), what="the entry")
    # every attribute the notification carries, the names from Nova's context included
    assert created["novaimageuuid"] == ["155d900f-4e14-4e4c-a73d-069cbf4541e6"]
    assert created["macaddress"] == ["fa:16:3e:4c:2c:30"]
    assert created["novaipaddress"] == ["192.168.1.3"]
    assert created["novahostname"] == ["some-server"]
    assert created["novaprojectname"] == ["Projekt Größe"]
    assert created["novausername"] == ["alice"]
    assert created["novaprojectid"] == ["6f70656e737461636b20342065766572"]
    # current Nova's redacted context carries no remote address: left unset, not an error
    assert "novauserremoteaddress" not in created

    publisher.send_sample("instance-interface_attach-end.json", uuid, ctxt)
    wait_until(lambda: len(entry(container, uuid).get("macaddress", [])) == 2, what="the second port")
    publisher.send_sample("instance-interface_detach-end.json", uuid, ctxt)
    wait_until(lambda: entry(container, uuid).get("macaddress") == ["fa:16:3e:4c:2c:30"], what="the port gone")
    # the last port detached: the payload's list is empty, so MAC and IP go
    publisher.send_sample("instance-interface_detach-end.json", uuid, ctxt, mutate=lambda d: d.update(ip_addresses=[]))
    wait_until(lambda: "macaddress" not in entry(container, uuid), what="MAC removed")
    assert "novaipaddress" not in entry(container, uuid)
    publisher.send_sample("instance-rebuild-end.json", uuid, ctxt)
    wait_until(lambda: entry(container, uuid)["novaimageuuid"] == ["a2459075-d96c-40d5-893e-577ff92e721c"],
               what="the rebuilt image")

    before = search(container, "sub", f"(cn={uuid})", "*", "modifyTimestamp")
    publisher.send_sample("instance-power_off-end.json", uuid, ctxt)
    publisher.send("compute.metrics.update", {"host": "compute1", "metrics": []})  # not an instance event
    wait_until(lambda: serve.stats().get("ignored") == "2", what="two ignored")
    assert search(container, "sub", f"(cn={uuid})", "*", "modifyTimestamp") == before

    publisher.send_sample("instance-delete-end.json", uuid, ctxt)
    wait_until(lambda: entry(container, uuid) is None, what="the entry deleted")
    wait_until(lambda: serve.stats().get("received") == "8", what="eight received")
    assert serve.stats()["applied"] == "6" and serve.stats()["failed"] == "0"
    assert queue_depth(serve.queue) == (0, 1)

    lines = [json.loads(line) for line in serve.log_file.read_text().splitlines()]
    assert [(l["event_type"], l["outcome"]) for l in lines] == [
        ("instance.create.end", "added"), ("instance.interface_attach.end", "updated"),
        ("instance.interface_detach.end", "updated"), ("instance.interface_detach.end", "updated"),
        ("instance.rebuild.end", "updated"), ("instance.power_off.end", "ignored"),
        ("compute.metrics.update", "ignored"), ("instance.delete.end", "deleted")]
    assert all(len(l["message_id"]) == 36 for l in lines)
    assert serve.stop() == 0


def test_the_service_reads_its_own_queue_never_the_shared_one(serve, publisher, container):
    serve.start()
    uuid = str(uuidlib.uuid4())
    publisher.send_sample("instance-create-end.json", uuid)
    wait_until(lambda: entry(container, uuid), what="the entry")
    # oslo.messaging's notifier declares versioned_notifications.info for the consumers that
    # share it (Ceilometer, ...): the message is still there for them
    messages, consumers = queue_depth("versioned_notifications.info")
    assert messages >= 1 and consumers == 0
    assert queue_depth(serve.queue) == (0, 1)


def test_legacy_notifications_on_their_topic(tmp_path, container):
    serve = Serve(tmp_path, container, extra_amqp="topics = notifications\n")
    serve.start()
    publisher = Publisher(amqp_url(), topics=("notifications",), exchange=serve.exchange)
    try:
        sample = json.loads((ROOT / "Tests/Fixtures/nova/compute-instance-create-end.legacy.json").read_text())
        uuid = str(uuidlib.uuid4())
        payload = dict(sample["payload"], instance_id=uuid)
        publisher.send("compute.instance.create.end", payload, context(project_name="legacy", user_name="bob"))
        created = wait_until(lambda: entry(container, uuid), what="the entry")
        assert created["novaprojectname"] == ["legacy"] and created["novausername"] == ["bob"]
    finally:
        publisher.close()
        serve.kill()


def test_poison_messages_are_kept_in_failed_and_the_queue_moves_on(serve, publisher, container):
    serve.start()
    foreign = str(uuidlib.uuid4())
    ldap("ldapadd", input=f"dn: cn={foreign},{container}\nobjectClass: top\nobjectClass: person\ncn: {foreign}\nsn: x\n")
    routing = "versioned_notifications.info"
    publish_raw(serve.exchange, routing, b"this is not JSON \xff")
    hostile = {"event_type": "instance.create.end", "payload": {"nova_object.data": {"uuid": f"x,cn=admin,{container}"}}}
    publish_raw(serve.exchange, routing, json.dumps(hostile).encode())
    publisher.send_sample("instance-create-end.json", foreign)  # not an entry nova-dirsvc owns
    behind = str(uuidlib.uuid4())
    publisher.send_sample("instance-create-end.json", behind)
    wait_until(lambda: entry(container, behind), what="the message behind the poison applied")
    wait_until(lambda: len(serve.failed_files()) == 3, what="three kept in failed/")
    reasons = [(p.parent / (p.name + ".reason")).read_text() for p in serve.failed_files()]
    assert "not valid JSON" in reasons[0] or "not UTF-8" in reasons[0]
    assert "payload.nova_object.data.uuid" in reasons[1]
    assert "novaInstance" in reasons[2]
    assert serve.failed_files()[0].read_bytes() == b"this is not JSON \xff"  # kept as it came
    assert search(container, "sub", f"(cn={foreign})")[f"cn={foreign},{container}".lower()].get("objectclass") == ["top", "person"]
    assert queue_depth(serve.queue) == (0, 1)
    wait_until(lambda: serve.stats().get("failed") == "3", what="failed=3 in the stats")
    assert serve.stop() == 0


def test_sigterm_stops_within_seconds_and_loses_nothing(serve, container, tmp_path):
    serve.start()
    uuids = instance_uuids(1000, 300)
    publisher = subprocess.Popen([sys.executable, str(ROOT / "Tests/cli/nova_bus.py"), amqp_url(), "1000", "300",
                                  "--exchange", serve.exchange], stderr=subprocess.DEVNULL)
    wait_until(lambda: len(managed(container)) >= 20, what="some applied")
    serve.proc.send_signal(signal.SIGTERM)
    serve.proc.wait(timeout=5)
    assert serve.proc.returncode == 0
    assert "SIGTERM: stopping" in serve.output() and "stopped: " in serve.output()
    publisher.wait(timeout=60)
    serve.start()
    wait_until(lambda: len(managed(container)) == 300, timeout=60, what="all 300")
    assert sorted(managed(container)) == sorted(uuids)
    wait_until(lambda: queue_depth(serve.queue) == (0, 1), what="the queue empty")
    assert serve.failed_files() == []
