"""`nova-dirsvc serve` under load and faults (issue 11): every notification ends in the
directory exactly once, whatever stops on the way: the service (kill -9, SIGTERM), the broker
(stopped and started again), the directory (stopped with SIGSTOP), or a second service on the
same queue. Publishers are separate processes running oslo.messaging (Tests/cli/nova_bus.py)."""
import os
import signal
import subprocess
import sys
import time
import uuid as uuidlib

import pytest

from helpers import ROOT, free_port, managed, restart_server, server_pid
from nova_bus import instance_uuids
from serve_helpers import declare_nova_exchange, AMQP_PORT, Broker, Serve, amqp_url, publish_raw, queue_depth, wait_until

pytestmark = pytest.mark.skipif(not AMQP_PORT, reason="no test broker: run scripts/test.sh")


def publish(first, count, exchange, port=None, delete_half=False, durable=False):
    """A publisher process (oslo.messaging + Nova's RequestContext)."""
    args = [sys.executable, str(ROOT / "Tests/cli/nova_bus.py"), amqp_url(port), str(first), str(count),
            "--exchange", exchange] + (["--delete-half"] if delete_half else []) + (["--durable"] if durable else [])
    return subprocess.Popen(args, stderr=subprocess.DEVNULL)


def expected(first, count, delete_half=False):
    uuids = instance_uuids(first, count)
    return sorted(set(uuids) - set(uuids[::2])) if delete_half else sorted(uuids)


def settle(serve, container, want, port=None, timeout=120):
    try:
        wait_until(lambda: sorted(managed(container)) == want, timeout=timeout, what=f"{len(want)} entries")
    except AssertionError:
        have = set(managed(container))
        raise AssertionError(f"{len(have)} entries, {len(set(want) - have)} missing, {len(have - set(want))} too many; "
                             f"serve: {serve.stats()}")
    wait_until(lambda: (queue_depth(serve.queue, port) or (None,))[0] == 0, what="the queue empty")
    assert serve.failed_files() == [], [p.name for p in serve.failed_files()]


def test_two_thousand_notifications_from_four_publishers(tmp_path, container):
    serve = Serve(tmp_path, container).start()
    try:
        # each publisher: 334 creates, then deletes of every other one (167): 2,004 in all
        publishers = [publish(10_000 * (i + 1), 334, serve.exchange, delete_half=True) for i in range(4)]
        for p in publishers:
            assert p.wait(timeout=180) == 0
        want = sorted(u for i in range(4) for u in expected(10_000 * (i + 1), 334, delete_half=True))
        settle(serve, container, want)
        wait_until(lambda: serve.stats().get("received") == "2004", what="2004 received")
        assert serve.stats()["applied"] == "2004" and serve.stats()["failed"] == "0"
    finally:
        assert serve.stop() == 0


def test_kill_9_mid_stream_then_restart(tmp_path, container):
    serve = Serve(tmp_path, container).start()
    publisher = publish(20_000, 1000, serve.exchange)
    wait_until(lambda: len(managed(container)) >= 100, timeout=60, what="100 applied")
    serve.kill()  # SIGKILL: whatever was taken but not acknowledged comes back
    assert len(managed(container)) < 1000
    assert publisher.wait(timeout=120) == 0
    serve.start()
    settle(serve, container, expected(20_000, 1000))
    assert serve.stop() == 0


@pytest.mark.parametrize("durable", [False, True], ids=["nova-default", "amqp_durable_queues"])
def test_the_broker_stopped_and_started_mid_stream(tmp_path, container, durable):
    port = free_port()
    broker = Broker(tmp_path / "broker", port)
    broker.start()
    serve = Serve(tmp_path, container, port=port, nova_durable=durable)
    try:
        serve.start()
        assert serve.stop() == 0  # its queue exists now: 1,500 notifications wait there
        assert publish(30_000, 1500, serve.exchange, port=port, durable=durable).wait(timeout=180) == 0
        assert queue_depth(serve.queue, port)[0] == 1500
        serve.start()
        wait_until(lambda: len(managed(container)) >= 100, timeout=60, what="some applied")
        broker.stop()
        assert len(managed(container)) < 1500  # mid-stream
        wait_until(lambda: "retrying in" in serve.output(), what="serve to notice")
        time.sleep(2)
        assert serve.proc.poll() is None  # it keeps trying
        broker.start()  # the durable queue and its persistent messages come back
        if not durable:
            # Nova's default exchange is not durable: it, and every binding to it, is gone
            # after the restart; serve waits for Nova to declare it again (its RPC servers do on
            # reconnecting) and binds again; what is published before that does not reach its
            # queue (README: amqp_durable_queues or rabbit_quorum_queue closes that)
            wait_until(lambda: "does not exist" in serve.output() or "NOT_FOUND" in serve.output(),
                       what="serve to say the exchange is gone")
            declare_nova_exchange(serve.exchange, port)
            wait_until(lambda: serve.output().count("broker: connected") >= 3, what="serve to reconnect")
        assert publish(32_000, 300, serve.exchange, port=port, durable=durable).wait(timeout=120) == 0
        settle(serve, container, sorted(expected(30_000, 1500) + expected(32_000, 300)), port=port)
        assert serve.output().count("broker: connected") >= 3
        assert serve.stop() == 0
    finally:
        serve.stop(signal.SIGKILL)
        broker.remove()


@pytest.mark.parametrize("how", ["paused", "killed"])
def test_the_directory_stopped_mid_stream(tmp_path, container, how):
    """paused: SIGSTOP (TCP accepts, nothing answers: each try costs the budget); killed: SIGKILL,
    then started again (connections refused meanwhile)."""
    serve = Serve(tmp_path, container, timeout="1").start()
    publisher = publish(40_000 if how == "paused" else 41_000, 400, serve.exchange)
    wait_until(lambda: len(managed(container)) >= 20, timeout=60, what="some applied")
    ds_pid = server_pid()
    os.kill(ds_pid, signal.SIGSTOP if how == "paused" else signal.SIGKILL)
    try:
        wait_until(lambda: serve.pending_files(), timeout=30, what="events queued in the spool")
        assert publisher.wait(timeout=120) == 0
        # acknowledged into the spool while the directory is away: the bus queue empties
        wait_until(lambda: queue_depth(serve.queue)[0] == 0, timeout=60, what="the queue acknowledged into the spool")
        assert "queueing events" in serve.output()
    finally:
        if how == "paused":
            os.kill(ds_pid, signal.SIGCONT)
        else:
            restart_server()
    settle(serve, container, expected(40_000 if how == "paused" else 41_000, 400))
    wait_until(lambda: serve.pending_files() == [], what="the spool drained")
    assert "directory: back" in serve.output()
    assert serve.stop() == 0


def test_two_services_on_one_queue_one_active_the_other_takes_over(tmp_path, container):
    """The default: RabbitMQ's single active consumer. One serve receives everything, in order;
    the other is a hot standby; killed mid-stream, the active one's unacknowledged messages and
    the rest go to the standby, in order."""
    a = Serve(tmp_path, container, name="a").start()
    b = Serve(tmp_path, container, name="b", exchange=a.exchange, queue=a.queue).start()
    try:
        publisher = publish(50_000, 600, a.exchange, delete_half=True)
        wait_until(lambda: len(managed(container)) >= 50, timeout=60, what="some applied")
        assert int(b.stats().get("received", 0)) == 0  # the standby received nothing
        a.kill()
        assert publisher.wait(timeout=120) == 0
        settle(b, container, expected(50_000, 600, True))
        assert int(b.stats()["received"]) > 0
        assert b.stop() == 0
    finally:
        a.stop(signal.SIGKILL)
        b.stop(signal.SIGKILL)


def test_two_services_as_competing_consumers_when_asked(tmp_path, container):
    a = Serve(tmp_path, container, name="a", extra_amqp="single_active_consumer = false\n").start()
    b = Serve(tmp_path, container, name="b", exchange=a.exchange, queue=a.queue,
              extra_amqp="single_active_consumer = false\n").start()
    try:
        publishers = [publish(52_000, 300, a.exchange, delete_half=True), publish(53_000, 300, a.exchange, delete_half=True)]
        for p in publishers:
            assert p.wait(timeout=120) == 0
        settle(a, container, sorted(expected(52_000, 300, True) + expected(53_000, 300, True)))
        wait_until(lambda: int(a.stats().get("received", 0)) + int(b.stats().get("received", 0)) >= 900,
                   what="both to count")
        # competing consumers: both took a share
        assert int(a.stats()["received"]) > 0 and int(b.stats()["received"]) > 0
    finally:
        a.stop()
        b.stop()


def test_the_base_dn_removed_mid_run_queues_until_it_is_back(tmp_path, container):
    """A problem on the service's side (the base DN gone): events are acknowledged into the
    spool, said loudly, and applied once it exists again."""
    from helpers import ldap
    from nova_bus import Publisher
    base = f"ou=gone,{container}"
    ldap("ldapadd", input=f"dn: {base}\nobjectClass: organizationalUnit\nou: gone\n")
    serve = Serve(tmp_path, container).start()
    serve.config.write_text(serve.config.read_text().replace(f"base_dn = {container}", f"base_dn = {base}"))
    serve.stop()
    serve.start("--verbose")
    ldap("ldapdelete", base)
    publisher = Publisher(amqp_url(), exchange=serve.exchange)
    uuids = expected(60_000, 5)
    for uuid in uuids:
        publisher.send_sample("instance-create-end.json", uuid)
    wait_until(lambda: len(serve.pending_files()) == 5, what="five queued")
    # 389-ds answers an add under a missing parent with insufficientAccessRights (the ACI
    # lives there): either way a problem on the service's side, said and queued
    assert "queueing events" in serve.output()
    assert queue_depth(serve.queue)[0] == 0  # acknowledged: they are safe in the spool
    ldap("ldapadd", input=f"dn: {base}\nobjectClass: organizationalUnit\nou: gone\n")
    wait_until(lambda: sorted(managed(base)) == uuids, timeout=60, what="applied once the base DN is back")
    publisher.send_sample("instance-delete-end.json", uuids[0])
    wait_until(lambda: uuids[0] not in managed(base), what="the service back to writing directly")
    publisher.close()
    assert serve.stop() == 0


def test_a_directory_down_from_the_start_and_a_spool_that_cannot_be_used(tmp_path, container):
    """serve starts while the directory does not answer (queueing from the start); when the
    spool cannot take an event either, its message is not acknowledged: it comes back and is
    kept once the spool is usable again (never lost)."""
    from nova_bus import Publisher
    serve = Serve(tmp_path, container, uri=f"ldap://127.0.0.1:{free_port()}", timeout="1")
    serve.spool.mkdir(mode=0o700)
    serve.spool.chmod(0o777)  # writable by others: refused as unsafe
    serve.start()
    assert "queueing events" in serve.output()
    publisher = Publisher(amqp_url(), exchange=serve.exchange)
    uuid = str(uuidlib.uuid4())
    publisher.send_sample("instance-create-end.json", uuid)
    publish_raw(serve.exchange, "versioned_notifications.info", b"not json")
    publisher.close()
    wait_until(lambda: "could be neither applied nor kept" in serve.output(), what="the message handed back")
    serve.spool.chmod(0o700)
    wait_until(lambda: len(serve.pending_files()) == 1 and len(serve.failed_files()) == 1, timeout=30,
               what="the event queued and the poison kept, once the spool is usable")
    assert uuid in serve.pending_files()[0].read_text()
    wait_until(lambda: queue_depth(serve.queue)[0] == 0, what="both acknowledged")
    wait_until(lambda: int(serve.stats().get("redelivered", "0")) >= 1, what="the message delivered again")
    assert serve.stop() == 0


def test_its_queue_deleted_under_it(tmp_path, container):
    """Someone deletes serve's queue (rabbitmqctl delete_queue): the broker cancels the
    consumer; serve says so, connects again, declares the queue again and goes on."""
    import amqp
    from nova_bus import Publisher
    serve = Serve(tmp_path, container).start()
    conn = amqp.Connection(host=f"127.0.0.1:{AMQP_PORT}", userid="guest", password="guest")
    conn.connect()
    conn.channel().queue_delete(serve.queue)
    conn.close()
    wait_until(lambda: "cancelled the consumer" in serve.output(), what="the cancel noticed")
    wait_until(lambda: serve.output().count("broker: connected") >= 2, what="serve back")
    publisher = Publisher(amqp_url(), exchange=serve.exchange)
    uuid = str(uuidlib.uuid4())
    publisher.send_sample("instance-create-end.json", uuid)
    publisher.close()
    wait_until(lambda: uuid in managed(container), what="the notification after the queue came back")
    assert serve.stop() == 0


def test_sigterm_while_serve_connects_is_a_graceful_stop(tmp_path, container):
    """A SIGTERM that arrives while serve connects to the directory and the broker, before its
    service group traps the signals, ended it by the default action (-15: a test stopping serve
    right after "broker: connected" saw it, and so would a unit stopped during a slow start).
    It is caught from the start and ends serve with 0."""
    for attempt in range(3):
        (tmp_path / f"attempt-{attempt}").mkdir()
        serve = Serve(tmp_path / f"attempt-{attempt}", container)
        serve.start(wait_bound=False)
        wait_until(lambda: "serve: starting:" in serve.output(), interval=0.001, what="serve to start")
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.proc.wait(timeout=30) == 0, serve.output()
