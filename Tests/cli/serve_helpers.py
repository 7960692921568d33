"""What the tests of `nova-dirsvc serve` share: the test broker (scripts/test.sh starts one and
exports NOVA_DIRSVC_TEST_AMQP_PORT; a test that stops its broker starts its own), a running
service with its own exchange and queue, and looks at queues with py-amqp (kombu's client)."""
import os
import signal
import subprocess
import sys
import time
import uuid as uuidlib
from pathlib import Path

from helpers import BIN, ROOT, SERVICE_DN, SERVICE_PW_FILE, URI
from nova_bus import instance_uuids

AMQP_PORT = int(os.environ.get("NOVA_DIRSVC_TEST_AMQP_PORT", "0") or 0)


def amqp_url(port=None, user="guest", password="guest"):
    return f"rabbit://{user}:{password}@127.0.0.1:{port or AMQP_PORT}/"


def wait_until(predicate, timeout=30.0, interval=0.1, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def queue_depth(queue, port=None):
    """(messages ready, consumers) of a queue, or None when it does not exist."""
    import amqp
    conn = amqp.Connection(host=f"127.0.0.1:{port or AMQP_PORT}", userid="guest", password="guest")
    conn.connect()
    try:
        ch = conn.channel()
        try:
            _, messages, consumers = ch.queue_declare(queue, passive=True)
            return messages, consumers
        except amqp.exceptions.NotFound:
            return None
    finally:
        try:
            conn.close()
        except Exception:
            pass


def declare_nova_exchange(name, port=None, durable=False, auto_delete=False):
    """Nova's exchange, as a running Nova has it (its RPC servers declare it at start-up, with
    durable = amqp_durable_queues or rabbit_quorum_queue, auto_delete = amqp_auto_delete): serve
    only looks it up."""
    import amqp
    conn = amqp.Connection(host=f"127.0.0.1:{port or AMQP_PORT}", userid="guest", password="guest")
    try:
        conn.connect()
    except OSError:
        return  # no broker there (a test of an unreachable one)
    try:
        conn.channel().exchange_declare(name, "topic", durable=durable, auto_delete=auto_delete)
    finally:
        conn.close()


def exchange_exists(name, port=None):
    import amqp
    conn = amqp.Connection(host=f"127.0.0.1:{port or AMQP_PORT}", userid="guest", password="guest")
    conn.connect()
    try:
        conn.channel().exchange_declare(name, "topic", passive=True)
        return True
    except amqp.exceptions.NotFound:
        return False
    finally:
        try:
            conn.close()
        except Exception:
            pass


def publish_raw(exchange, routing_key, body, port=None, headers=None):
    """A message no Nova would send (not JSON, ...), put on the bus with py-amqp."""
    import amqp
    conn = amqp.Connection(host=f"127.0.0.1:{port or AMQP_PORT}", userid="guest", password="guest")
    conn.connect()
    try:
        ch = conn.channel()
        ch.basic_publish(amqp.Message(body, delivery_mode=2, content_type="application/json",
                                      application_headers=headers or {}),
                         exchange=exchange, routing_key=routing_key)
    finally:
        conn.close()


def start_broker(folder, port, env=None):
    """scripts/rabbitmq-start.sh FOLDER PORT; a broker that does not come up fails the test with
    the script's words and the broker's last log lines (they are in FOLDER too, kept with tmp_path)."""
    proc = subprocess.run([str(ROOT / "scripts/rabbitmq-start.sh"), str(folder), str(port)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"the broker in {folder} did not start:\n{proc.stderr}"
    return proc.stdout


class Broker:
    """A RabbitMQ of a test's own (scripts/rabbitmq-start.sh), for tests that stop it."""

    def __init__(self, folder, port, tls_port=None):
        self.folder, self.port, self.tls_port = Path(folder), port, tls_port
        self.ca_cert = self.folder / "tls" / "ca.crt"

    def start(self):
        env = dict(os.environ, RABBITMQ_TLS_PORT=str(self.tls_port)) if self.tls_port else None
        start_broker(self.folder, self.port, env)

    def stop(self):
        subprocess.run([str(ROOT / "scripts/rabbitmq-stop.sh"), str(self.folder)], check=True, capture_output=True)

    def remove(self):
        subprocess.run([str(ROOT / "scripts/rabbitmq-stop.sh"), str(self.folder), "--remove"], capture_output=True)


class Serve:
    """`nova-dirsvc serve` with a configuration file of its own: the test directory through the
    least-privilege account, the given broker, an exchange and a queue no other test uses.
    Whatever a test leaves running is killed after it (conftest.py: `Serve.kill_leftovers`)."""

    started = []

    def __init__(self, tmp_path, container, port=None, uri=None, timeout="3", exchange=None, queue=None,
                 extra_amqp="", transport_url=None, name="serve", http=None, bus=True, nova_durable=False,
                 bind=(SERVICE_DN, SERVICE_PW_FILE)):
        self.tmp = Path(tmp_path)
        self.name = name
        self.exchange = exchange or "nova-" + uuidlib.uuid4().hex[:8]
        self.queue = queue or "nova-dirsvc-" + uuidlib.uuid4().hex[:8]
        self.log_file = self.tmp / "events.log"
        self.spool = self.tmp / "spool"
        self.stderr_path = self.tmp / f"{name}.stderr"
        self.config = self.tmp / f"{name}.conf"
        self.port = port or AMQP_PORT
        self.config.write_text(
            f"[ldap]\nuri = {uri or URI}\nbind_dn = {bind[0]}\npassword_file = {bind[1]}\n"
            f"base_dn = {container}\nlog_file = {self.log_file}\nspool_dir = {self.spool}\ntimeout = {timeout}\n"
            + (f"[amqp]\ntransport_url = {transport_url or amqp_url(self.port)}\nexchange = {self.exchange}\n"
               f"queue = {self.queue}\n{extra_amqp}" if bus else "")
            + (f"[http]\n{http}" if http else ""))
        self.config.chmod(0o600)
        self.proc = None
        self.bus = bus
        # how Nova (already running: its exchange exists) declared its exchange
        self.nova_durable = nova_durable

    def start(self, *args, wait_bound=True, nova_running=True, open_files=None):
        """nova_running: Nova's exchange is declared first, as a running Nova has it.
        open_files: serve's limit on open files, soft and hard (it cannot raise it)."""
        if self.bus and nova_running:
            declare_nova_exchange(self.exchange, self.port, durable=self.nova_durable)
        self.stderr = open(self.stderr_path, "ab")
        def limit():
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
        self.proc = subprocess.Popen([BIN, "serve", "--config", str(self.config), "--stats-interval", "1", *args],
                                     stdout=subprocess.DEVNULL, stderr=self.stderr, env=self.env(),
                                     preexec_fn=limit if open_files else None)
        Serve.started.append(self.proc)
        if wait_bound:
            ready = "broker: connected" if self.bus else "http: listening"
            before = self.output().count(ready)  # the log of an earlier start is in the same file
            wait_until(lambda: self.output().count(ready) > before or self.proc.poll() is not None,
                       what=f"{self.name} to be ready ({ready})")
            assert self.proc.poll() is None, self.output()
        return self

    @staticmethod
    def env(**extra):
        """The environment without NOVA_DIRSVC_* settings (they would override the file)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOVA_DIRSVC_")}
        env.update(extra)
        return env

    def check_config(self, nova_running=True, **env):
        """nova_running: Nova's exchange is declared first, as a running Nova has it."""
        if self.bus and nova_running:
            declare_nova_exchange(self.exchange, self.port, durable=self.nova_durable)
        return subprocess.run([BIN, "serve", "--check-config", "--config", str(self.config)],
                              capture_output=True, text=True, env=self.env(**env))

    def output(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    @classmethod
    def kill_leftovers(cls):
        for proc in cls.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        cls.started.clear()

    def stats(self):
        """The last stats line's counters."""
        lines = [line for line in self.output().splitlines() if "stats: " in line or "stopped: " in line]
        if not lines:
            return {}
        return {k: v for k, v in (item.split("=", 1) for item in lines[-1].split(": ", 2)[-1].split() if "=" in item)}

    def failed_files(self):
        failed = self.spool / "failed"
        return sorted(p for p in failed.iterdir() if not p.name.endswith(".reason")) if failed.exists() else []

    def pending_files(self):
        return sorted(p for p in self.spool.iterdir() if p.name.endswith(".event")) if self.spool.exists() else []


def uuids_left(first, count, delete_every):
    """The instances a Nova scenario leaves (create.end for each, delete.end for every n-th)."""
    return sorted(u for i, u in enumerate(instance_uuids(first, count)) if not (delete_every and i % delete_every == 0))


class Nova:
    """Nova (Tests/cli/nova_emit.py) from a nova.conf of its own: started, it declares its
    exchange and RPC queues; after go(), it emits; its exit status says whether any publish or
    declare failed."""

    def __init__(self, tmp_path, url, first, count, default=None, rabbit=None, delete_every=0, name="nova"):
        self.dir = Path(tmp_path) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "nova.conf"
        self.ready, self.go_file = self.dir / "ready", self.dir / "go"
        lines = ["[DEFAULT]", f"transport_url = {url}", "host = compute-01.example.com"]
        lines += [f"{k} = {v}" for k, v in (default or {}).items()]
        lines += ["", "[notifications]", "notification_format = versioned", "",
                  # a publish that fails is retried a few times, then logged (not for ever)
                  "[oslo_messaging_notifications]", "driver = messagingv2", "retry = 3", "",
                  "[oslo_messaging_rabbit]"]
        lines += [f"{k} = {v}" for k, v in (rabbit or {}).items()]
        # the image's URL in the payload comes from glance's endpoint
        lines += ["", "[glance]", "api_servers = http://glance.example.com:9292"]
        self.conf.write_text("\n".join(lines) + "\n")
        self.args = [str(self.conf), str(first), str(count), "--ready", str(self.ready), "--go", str(self.go_file),
                     "--delete-every", str(delete_every)]
        self.proc = None

    def start(self):
        self.stderr = open(self.dir / "stderr", "wb")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "Tests/cli/nova_emit.py"), *self.args],
                                     stdout=subprocess.DEVNULL, stderr=self.stderr,
                                     env=dict(os.environ, NOVA_EMIT_WORK=str(self.dir)), cwd=self.dir)
        wait_until(lambda: self.ready.exists() or self.proc.poll() is not None, timeout=120, what="Nova to start")
        assert self.proc.poll() is None, self.output()
        return self

    def go(self):
        self.go_file.touch()

    def wait(self, timeout=300):
        return self.proc.wait(timeout=timeout)

    def output(self):
        return (self.dir / "stderr").read_text(errors="replace")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
