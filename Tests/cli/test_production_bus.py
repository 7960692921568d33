"""serve on Nova's production bus (issue 18): it never harms Nova (its exchange only looked up,
its RPC and its publishes never failing because of serve), a quorum queue that survives the
loss of a node, compressed and oversized messages, a message that can be neither applied nor
kept dead-lettered instead of blocking the queue.

Nova here is Nova itself: Tests/cli/nova_emit.py starts it from a nova.conf as nova-compute
starts (nova.config.parse_args, rpc.init), with an RPC server on topic `compute` that declares
Nova's exchange and RPC queues, and emits with nova.compute.utils on real Instance objects.
The brokers are real: the suite's RabbitMQ (each scenario in a virtual host of its own) and a
3-node cluster started here (scripts/rabbitmq-cluster-start.sh)."""
import os
import signal
import subprocess
import sys
import time
import uuid as uuidlib
import zlib
from pathlib import Path

import pytest

from helpers import ROOT, free_port, managed
from nova_bus import instance_uuids
from serve_helpers import (AMQP_PORT, Nova, Serve, amqp_url, declare_nova_exchange, publish_raw, queue_depth,
                           start_broker, uuids_left, wait_until)

pytestmark = pytest.mark.skipif(not AMQP_PORT, reason="no test broker: run scripts/test.sh")

AMQP_DIR = os.environ.get("NOVA_DIRSVC_TEST_AMQP_DIR", "")


def rabbitmqctl(node_dir, *args):
    """rabbitmqctl on the node whose state is in node_dir (its env file: name, cookie)."""
    env = dict(os.environ)
    for line in Path(node_dir, "env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.startswith("RABBITMQ_") or key == "HOME":
            env[key] = value
    return subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-q", "-n", env["RABBITMQ_NODENAME"], *args],
                          capture_output=True, text=True, env=env, check=True).stdout


def new_vhost():
    """A virtual host of the test's own on the suite's broker (Nova's exchange is `nova` in each)."""
    vhost = "v-" + uuidlib.uuid4().hex[:8]
    rabbitmqctl(AMQP_DIR, "add_vhost", vhost)
    rabbitmqctl(AMQP_DIR, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    return vhost


# Each: nova.conf's options, and what serve is told ([amqp]); serve is started first, when Nova's
# exchange is not there yet (the order in which an active declare would have done the harm).
MATRIX = {
    "defaults": ({}, {}, ""),
    "amqp_durable_queues": ({}, {"amqp_durable_queues": "true"}, ""),
    "rabbit_quorum_queue": ({}, {"rabbit_quorum_queue": "true"}, ""),
    "amqp_auto_delete": ({}, {"amqp_auto_delete": "true"}, ""),
    "control_exchange": ({"control_exchange": "openstack"}, {}, "exchange = openstack\n"),
    "gzip": ({}, {"kombu_compression": "gzip"}, ""),
    "bzip2": ({}, {"kombu_compression": "bzip2"}, ""),
    "lzma": ({}, {"kombu_compression": "lzma"}, ""),
    "zstd": ({}, {"kombu_compression": "zstd"}, ""),
    "brotli": ({}, {"kombu_compression": "brotli"}, ""),
    "classic-queue-under-quorum-nova": ({}, {"rabbit_quorum_queue": "true", "amqp_durable_queues": "true"},
                                        "queue_type = classic\n"),
}


@pytest.mark.parametrize("case", list(MATRIX))
def test_novas_options_matrix_nova_never_fails_and_serve_gets_everything(tmp_path, container, case):
    default, rabbit, amqp = MATRIX[case]
    vhost = new_vhost()
    url = amqp_url().rstrip("/") + "/" + vhost
    exchange = default.get("control_exchange", "nova")
    serve = Serve(tmp_path, container, transport_url=url, exchange=exchange, extra_amqp=amqp)
    serve.start(wait_bound=False, nova_running=False)
    nova = Nova(tmp_path, url, 50_000, 40, default=default, rabbit=rabbit, delete_every=4)
    try:
        # Nova's exchange is not there yet: serve says so and waits, declaring nothing of Nova's
        wait_until(lambda: "NOT_FOUND" in serve.output(), what="serve to find no exchange yet")
        assert serve.proc.poll() is None
        nova.start()
        wait_until(lambda: "broker: connected" in serve.output(), what="serve to bind once Nova declared its exchange")
        spy = spy_queue(vhost, exchange)
        nova.go()
        assert nova.wait() == 0, nova.output()[-3000:]  # no publish, no RPC declare failed
        expected = uuids_left(50_000, 40, 4)
        wait_until(lambda: sorted(managed(container)) == expected, timeout=60, what="every instance Nova left")
        wait_until(lambda: queue_depth_in(vhost, serve.queue) == (0, 1), what="serve's queue drained")
        assert serve.failed_files() == []
        # what was on the wire: compressed as asked (the header kombu sets), and decoded
        headers, body = spy_message(vhost, spy)
        if "kombu_compression" in rabbit:
            assert headers.get("compression", "").startswith("application/") and not body.startswith(b"{")
        else:
            assert "compression" not in headers and body.startswith(b"{")
        assert serve.stop() == 0
    finally:
        nova.kill()
        serve.stop(signal.SIGKILL)


def _channel(vhost):
    import amqp
    conn = amqp.Connection(host=f"127.0.0.1:{AMQP_PORT}", userid="guest", password="guest", virtual_host=vhost)
    conn.connect()
    return conn, conn.channel()


def spy_queue(vhost, exchange):
    """A queue of the test's own bound beside serve's, to look at what Nova put on the wire."""
    conn, ch = _channel(vhost)
    name = "spy-" + uuidlib.uuid4().hex[:8]
    ch.queue_declare(name, auto_delete=False)
    ch.queue_bind(name, exchange, "versioned_notifications.info")
    conn.close()
    return name


def spy_message(vhost, queue):
    conn, ch = _channel(vhost)
    message = ch.basic_get(queue, no_ack=True)
    conn.close()
    body = message.body
    return dict(message.application_headers or {}), body.encode() if isinstance(body, str) else bytes(body)


def queue_depth_in(vhost, queue):
    """(messages, consumers) of a queue in a virtual host, or None."""
    out = rabbitmqctl(AMQP_DIR, "list_queues", "-p", vhost, "name", "messages", "consumers")
    for line in out.splitlines():
        parts = line.split("\t")
        if parts[0] == queue:
            return int(parts[1]), int(parts[2])
    return None


def test_a_control_exchange_that_differs_is_named_and_nothing_is_created(tmp_path, container):
    vhost = new_vhost()
    url = amqp_url().rstrip("/") + "/" + vhost
    nova = Nova(tmp_path, url, 51_000, 1, default={"control_exchange": "openstack"})
    nova.start()
    try:
        serve = Serve(tmp_path, container, transport_url=url, exchange="nova")
        proc = serve.check_config(nova_running=False)
        assert proc.returncode == 69 and "control_exchange" in proc.stderr, proc.stderr
        exchanges = rabbitmqctl(AMQP_DIR, "list_exchanges", "-p", vhost, "name")
        assert "openstack" in exchanges.split() and "nova" not in exchanges.split()
        queues = rabbitmqctl(AMQP_DIR, "list_queues", "-p", vhost, "name")
        assert serve.queue not in queues.split()
    finally:
        nova.kill()


def test_check_config_leaves_the_broker_as_it_found_it(tmp_path, container):
    vhost = new_vhost()
    url = amqp_url().rstrip("/") + "/" + vhost
    nova = Nova(tmp_path, url, 52_000, 1, rabbit={"rabbit_quorum_queue": "true"})
    nova.start()
    try:
        def state():
            return [rabbitmqctl(AMQP_DIR, what, "-p", vhost, *cols) for what, cols in [
                ("list_exchanges", ["name", "type", "durable", "auto_delete", "arguments"]),
                ("list_queues", ["name", "type", "durable", "arguments"]),
                ("list_bindings", ["source_name", "destination_name", "routing_key"])]]
        before = state()
        for extra in ["", "declare_exchange = true\ndurable = true\n", "queue_type = classic\n"]:
            serve = Serve(tmp_path, container, transport_url=url, exchange="nova", extra_amqp=extra,
                          name=f"check-{len(extra)}")
            proc = serve.check_config(nova_running=False)
            assert proc.returncode == 0, proc.stderr
            assert "will be created" in proc.stdout
        assert state() == before
    finally:
        nova.kill()


def test_a_message_that_can_be_neither_applied_nor_kept_is_dead_lettered_and_blocks_nothing(tmp_path, container):
    serve = Serve(tmp_path, container, extra_amqp="delivery_limit = 2\n")
    serve.spool.mkdir(parents=True)
    (serve.spool / "failed").write_text("a file where failed/ should be: nothing can be kept\n")
    serve.start()
    try:
        publish_raw(serve.exchange, "versioned_notifications.info", b"not JSON: it would be kept in failed/")
        from nova_bus import Publisher
        publisher = Publisher(amqp_url(), exchange=serve.exchange)
        behind = str(uuidlib.uuid4())
        publisher.send_sample("instance-create-end.json", behind)
        publisher.close()
        wait_until(lambda: behind in managed(container), what="the message behind applied")
        wait_until(lambda: (queue_depth(serve.queue + ".dead") or (0,))[0] == 1, timeout=60,
                   what="the message in serve's dead-letter queue")
        assert queue_depth(serve.queue)[0] == 0
        assert serve.output().count("broker: connected") == 1  # handed back, no reconnection
        assert "could be neither applied nor kept" in serve.output()
        assert serve.stop() == 0
    finally:
        serve.stop(signal.SIGKILL)


def peak_rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def test_oversized_and_undecodable_messages_are_kept_with_their_reason_never_held_whole(tmp_path, container):
    serve = Serve(tmp_path, container, extra_amqp="max_message_bytes = 65536\nprefetch = 8\n")
    serve.start()
    try:
        routing = "versioned_notifications.info"
        big = b'{"event_type": "instance.create.end", "payload": "' + b"x" * (40 << 20) + b'"}'
        for _ in range(4):
            publish_raw(serve.exchange, routing, big)
        publish_raw(serve.exchange, routing, b"whatever", headers={"compression": "application/x-snappy"})
        publish_raw(serve.exchange, routing, zlib.compress(b" " * (64 << 20)), headers={"compression": "application/x-gzip"})
        from nova_bus import Publisher
        publisher = Publisher(amqp_url(), exchange=serve.exchange)
        behind = str(uuidlib.uuid4())
        publisher.send_sample("instance-create-end.json", behind)
        publisher.close()
        wait_until(lambda: behind in managed(container), timeout=60, what="the message behind applied")
        wait_until(lambda: len(serve.failed_files()) == 6, what="six kept in failed/")
        reasons = [(p.parent / (p.name + ".reason")).read_text() for p in serve.failed_files()]
        for kept, reason in zip(serve.failed_files()[:4], reasons[:4]):
            assert f"the message is {len(big)} bytes, more than max_message_bytes (65536)" in reason
            assert kept.stat().st_size == 65536  # its first bytes, as they came
        assert "application/x-snappy" in reasons[4] and "cannot decode" in reasons[4]
        assert "inflates to more than 65536 bytes" in reasons[5]
        # 160 MB went through; serve never held a message whole
        assert peak_rss_kib(serve.proc.pid) < 120 * 1024, peak_rss_kib(serve.proc.pid)
        assert serve.stop() == 0
    finally:
        serve.stop(signal.SIGKILL)


# ---- a 3-node cluster ------------------------------------------------------------------------
# Nova runs on it as kolla-ansible runs it since 2024.1: rabbit_quorum_queue = true (so its
# exchange `nova` is durable).

class Cluster:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.ports = [free_port() for _ in range(3)]

    def start(self):
        proc = subprocess.run([str(ROOT / "scripts/rabbitmq-cluster-start.sh"), str(self.folder), *map(str, self.ports)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr

    def url(self, *ports):
        return "rabbit://" + ",".join(f"guest:guest@127.0.0.1:{p}" for p in (ports or self.ports)) + "/"

    def node_dir(self, port):
        return self.folder / str(port)

    def kill(self, port):
        pid = int((self.node_dir(port) / "pid").read_text())
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2],
                   what="the node gone")

    def restart(self, port):
        env = dict(os.environ, RABBITMQ_COOKIE=(self.folder / "cookie").read_text())
        start_broker(self.node_dir(port), port, env)

    def ctl(self, port, *args):
        return rabbitmqctl(self.node_dir(port), *args)

    def leader(self, queue, ask):
        for line in self.ctl(ask, "list_queues", "name", "leader").splitlines():
            name, _, leader = line.partition("\t")
            if name == queue:
                return int(leader.split("@")[0][2:])
        return None

    def remove(self):
        for port in self.ports:
            subprocess.run([str(ROOT / "scripts/rabbitmq-stop.sh"), str(self.node_dir(port))], capture_output=True)
        subprocess.run(["rm", "-rf", str(self.folder)])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def test_cluster_the_node_of_the_queue_leader_killed_mid_stream_loses_nothing(tmp_path, container, cluster):
    first, second, third = cluster.ports
    # serve reaches the first node first: its quorum queue's leader is there
    serve = Serve(tmp_path, container, port=first, transport_url=cluster.url(), exchange="nova")
    nova = Nova(tmp_path, cluster.url(second), 60_000, 3000, rabbit={"rabbit_quorum_queue": "true"})
    try:
        nova.start()
        serve.start(nova_running=False)
        assert cluster.leader(serve.queue, second) == first
        nova.go()
        wait_until(lambda: len(managed(container)) >= 300, timeout=120, what="300 applied")
        cluster.kill(first)
        assert len(managed(container)) < 3000  # mid-stream
        assert nova.wait() == 0, nova.output()[-3000:]
        expected = uuids_left(60_000, 3000, 0)
        wait_until(lambda: sorted(managed(container)) == expected, timeout=180,
                   what="all 3,000 in the directory", interval=1)
        out = serve.output()
        assert f"127.0.0.1:{second}" in out or f"127.0.0.1:{third}" in out  # the host in use, logged
        assert "guest:guest" not in out
        assert serve.stop() == 0
    finally:
        nova.kill()
        serve.stop(signal.SIGKILL)
        cluster.restart(first)


def test_cluster_a_node_down_at_start_and_a_classic_queues_home_node_down_are_retried(tmp_path, container, cluster):
    first, second, third = cluster.ports
    declare_nova_exchange("nova", second, durable=True)  # the cluster's Nova runs with rabbit_quorum_queue
    quorum = Serve(tmp_path, container, port=second, transport_url=cluster.url(), exchange="nova", name="quorum")
    classic = Serve(tmp_path, container, port=second, transport_url=cluster.url(first), exchange="nova",
                    extra_amqp="queue_type = classic\n", name="classic")
    try:
        classic.start(nova_running=False)  # its classic queue lives on the first node
        assert classic.stop() == 0
        cluster.kill(first)
        # a quorum queue: the first host refuses, the next one serves
        quorum.start(nova_running=False)
        assert f"connected to guest@127.0.0.1:{second}" in quorum.output() or \
            f"connected to guest@127.0.0.1:{third}" in quorum.output()
        # the classic queue's node is down: 404, retried, never a settings error
        classic.config.write_text(classic.config.read_text().replace(cluster.url(first), cluster.url(second)))
        classic.start(wait_bound=False, nova_running=False)
        wait_until(lambda: classic.output().count("retrying in") >= 3, timeout=60, what="retries")
        assert classic.proc.poll() is None
        assert "NOT_FOUND" in classic.output() or "down" in classic.output()
        cluster.restart(first)
        wait_until(lambda: classic.output().count("broker: connected") >= 2, timeout=90, what="the classic queue back")
        nova = Nova(tmp_path, cluster.url(third), 61_000, 50, rabbit={"rabbit_quorum_queue": "true"})
        nova.start()
        nova.go()
        assert nova.wait() == 0, nova.output()[-3000:]
        # both queues are bound to Nova's exchange: each serve applies every notification
        wait_until(lambda: sorted(managed(container)) == uuids_left(61_000, 50, 0), timeout=60, what="all 50")
        wait_until(lambda: classic.stats().get("received") == "50" and quorum.stats().get("received") == "50",
                   what="both queues read")
        assert quorum.stop() == 0 and classic.stop() == 0
    finally:
        quorum.stop(signal.SIGKILL)
        classic.stop(signal.SIGKILL)


def test_cluster_two_serves_on_two_nodes_share_one_queue(tmp_path, container, cluster):
    first, second, third = cluster.ports
    declare_nova_exchange("nova", second, durable=True)  # the cluster's Nova runs with rabbit_quorum_queue
    queue = "nova-dirsvc-" + uuidlib.uuid4().hex[:8]
    competing = "single_active_consumer = false\n"
    one = Serve(tmp_path, container, port=second, transport_url=cluster.url(second), exchange="nova", queue=queue,
                name="one", extra_amqp=competing)
    two = Serve(tmp_path, container, port=third, transport_url=cluster.url(third), exchange="nova", queue=queue,
                name="two", extra_amqp=competing)
    nova = Nova(tmp_path, cluster.url(first), 62_000, 500, rabbit={"rabbit_quorum_queue": "true"})
    try:
        one.start(nova_running=False)
        two.start(nova_running=False)
        nova.start()
        nova.go()
        assert nova.wait() == 0, nova.output()[-3000:]
        wait_until(lambda: sorted(managed(container)) == uuids_left(62_000, 500, 0), timeout=120, what="all 500")
        received = [int(s.stats().get("received", 0)) for s in (one, two)]
        wait_until(lambda: sum(int(s.stats().get("received", 0)) for s in (one, two)) == 500, what="500 received")
        assert one.stop() == 0 and two.stop() == 0
        assert all(int(s.stats().get("received", 0)) > 0 for s in (one, two)), received
    finally:
        nova.kill()
        one.stop(signal.SIGKILL)
        two.stop(signal.SIGKILL)
