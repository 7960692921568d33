"""`nova-dirsvc serve` settings (issue 11): [amqp] in the file and NOVA_DIRSVC_AMQP_*,
`--check-config` and its exit statuses, refusals at start-up, secrets kept out of sight."""
import os
import subprocess
import time

import pytest

from helpers import BIN, ENV, free_port, managed
from nova_bus import Publisher
from serve_helpers import declare_nova_exchange, exchange_exists, AMQP_PORT, Broker, Serve, amqp_url, publish_raw, queue_depth, wait_until

pytestmark = pytest.mark.skipif(not AMQP_PORT, reason="no test broker: run scripts/test.sh")


def test_check_config_reaches_both_and_leaves_the_broker_as_it_found_it(tmp_path, container):
    serve = Serve(tmp_path, container)
    # Nova has not declared its exchange yet: named, with the control_exchange hint; 69 (it may
    # come), and nothing is created by looking
    proc = serve.check_config(nova_running=False)
    assert proc.returncode == 69, proc.stderr
    assert f"look up exchange {serve.exchange}" in proc.stderr and "control_exchange" in proc.stderr
    assert not exchange_exists(serve.exchange)
    declare_nova_exchange(serve.exchange)
    proc = serve.check_config()
    assert proc.returncode == 0, proc.stderr
    assert "configuration: ok" in proc.stdout and f"exchange {serve.exchange} exists" in proc.stdout
    assert f"queue {serve.queue} (quorum) will be created" in proc.stdout
    assert "guest@127.0.0.1" in proc.stdout and "guest:guest" not in proc.stdout
    assert queue_depth(serve.queue) is None  # nothing declared that would fill up unread
    assert queue_depth(serve.queue + ".dead") is None


def test_a_wrong_broker_password_is_77_for_check_config_and_for_serve(tmp_path, container):
    serve = Serve(tmp_path, container, transport_url=amqp_url(password="not-the-password"))
    proc = serve.check_config()
    assert proc.returncode == 77, proc.stderr
    assert "403" in proc.stderr and "check the user and password of transport_url" in proc.stderr
    assert "not-the-password" not in proc.stderr + proc.stdout
    serve.start(wait_bound=False)
    assert serve.proc.wait(timeout=20) == 77
    assert "ACCESS_REFUSED" in serve.output() and "not-the-password" not in serve.output()


def test_an_unreachable_broker_is_retried_with_backoff_and_said(tmp_path, container):
    port = free_port()
    serve = Serve(tmp_path, container, port=port)
    assert serve.check_config().returncode == 69
    serve.start(wait_bound=False)
    try:
        wait_until(lambda: serve.output().count("retrying in") >= 3, timeout=20, what="three retries")
        assert serve.proc.poll() is None
        waits = [line.rsplit("retrying in ", 1)[1] for line in serve.output().splitlines() if "retrying in" in line]
        assert waits[:3] == ["0.5 s", "1 s", "2 s"]  # backoff
    finally:
        assert serve.stop() == 0


def test_a_transport_url_readable_by_others_is_refused(tmp_path, container):
    url_file = tmp_path / "transport_url"
    url_file.write_text(amqp_url() + "\n")
    url_file.chmod(0o644)
    serve = Serve(tmp_path, container)
    text = serve.config.read_text().replace(f"transport_url = {amqp_url()}", f"transport_url_file = {url_file}")
    serve.config.write_text(text)
    proc = serve.check_config()
    assert proc.returncode == 64 and "transport URL file" in proc.stderr and "chmod o-rwx" in proc.stderr
    url_file.chmod(0o600)
    assert serve.check_config().returncode == 0
    # the password inline in a configuration file others can read: refused too
    inline = Serve(tmp_path, container, name="inline")
    inline.config.chmod(0o644)
    proc = inline.check_config()
    assert proc.returncode == 64 and "holds a password in [amqp] transport_url" in proc.stderr
    assert "guest:guest" not in proc.stderr


def test_novas_exchange_is_never_declared_unless_asked_and_then_a_mismatch_is_named(tmp_path, container):
    serve = Serve(tmp_path, container)
    declare_nova_exchange(serve.exchange, durable=True)  # rabbit_quorum_queue = true in nova.conf
    # the default: looked up only, whatever its properties
    assert serve.check_config(nova_running=False).returncode == 0
    # declare_exchange = true with properties other than Nova's: refused, the options named
    serve.config.write_text(serve.config.read_text() + "declare_exchange = true\n")
    proc = serve.check_config(nova_running=False)
    assert proc.returncode == 0, proc.stderr  # check-config stays passive
    serve.start(wait_bound=False, nova_running=False)
    assert serve.proc.wait(timeout=20) == 64
    out = serve.output()
    assert "PRECONDITION_FAILED" in out and serve.exchange in out
    for option in ["amqp_durable_queues", "rabbit_quorum_queue", "amqp_auto_delete"]:
        assert option in out
    # durable set without declare_exchange: said to be unused
    other = Serve(tmp_path, container, name="other", extra_amqp="durable = true\n")
    declare_nova_exchange(other.exchange)
    proc = other.check_config()
    assert proc.returncode == 0 and "used only with declare_exchange = true" in proc.stderr, proc.stderr


def test_queue_names_of_oslos_own_and_bad_queue_settings_are_refused(tmp_path, container):
    for extra, message in [("queue = versioned_notifications.info", "the queue oslo.messaging itself declares"),
                           ("queue = versioned_notifications.error", "the queue oslo.messaging itself declares"),
                           ("queue = amq.mine", "RabbitMQ reserves"),
                           ("queue_type = stream", "is not quorum or classic"),
                           ("dead_letter_queue = versioned_notifications.info", "oslo.messaging itself declares"),
                           ("max_message_bytes = 10", "not a whole number from 4096")]:
        serve = Serve(tmp_path, container, queue="q-" + extra.split()[0], extra_amqp=extra + "\n")
        text = serve.config.read_text()
        if extra.startswith("queue ="):
            text = text.replace(f"queue = {serve.queue}\n", "")
        serve.config.write_text(text)
        proc = serve.check_config()
        assert proc.returncode == 64 and message in proc.stderr, (extra, proc.stderr)


def test_settings_from_the_environment_and_unknown_keys(tmp_path, container):
    serve = Serve(tmp_path, container)
    declare_nova_exchange(serve.exchange)
    text = serve.config.read_text().replace(f"transport_url = {amqp_url()}\n", "").replace("queue =", "queu =")
    serve.config.write_text(text)
    proc = subprocess.run([BIN, "serve", "--check-config", "--config", str(serve.config)], capture_output=True, text=True,
                          env=serve.env(NOVA_DIRSVC_AMQP_TRANSPORT_URL=amqp_url()))
    assert proc.returncode == 64
    assert 'unknown key "queu" in [amqp], ignored (did you mean "queue"?)' in proc.stderr
    serve.config.write_text(text.replace("queu =", "queue ="))
    proc = subprocess.run([BIN, "serve", "--check-config", "--config", str(serve.config)], capture_output=True, text=True,
                          env=serve.env(NOVA_DIRSVC_AMQP_TRANSPORT_URL=amqp_url()))
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([BIN, "serve", "--check-config", "--config", str(serve.config)], capture_output=True, text=True,
                          env=serve.env())
    assert proc.returncode == 64 and "nothing to serve" in proc.stderr
    for bad, message in [("prefetch = 0", "not a whole number from 1 to 65535"), ("topics = a.#", "no wildcards")]:
        serve.config.write_text(text.replace("queu =", "queue =") + bad + "\n")
        proc = subprocess.run([BIN, "serve", "--check-config", "--config", str(serve.config)], capture_output=True,
                              text=True, env=serve.env(NOVA_DIRSVC_AMQP_TRANSPORT_URL=amqp_url()))
        assert proc.returncode == 64 and message in proc.stderr, proc.stderr


def test_sighup_rereads_the_configuration(tmp_path, container):
    import signal
    serve = Serve(tmp_path, container).start()
    try:
        old_queue = serve.queue
        serve.config.write_text(serve.config.read_text().replace(old_queue, old_queue + "-2"))
        serve.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: configuration re-read" in serve.output(), what="the reload")
        wait_until(lambda: queue_depth(old_queue + "-2") == (0, 1), what="the new queue consumed")
        assert queue_depth(old_queue)[1] == 0
        serve.config.write_text(serve.config.read_text() + "prefetch = many\n")
        serve.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: the configuration was not changed" in serve.output(), what="the refusal")
        assert serve.proc.poll() is None and queue_depth(old_queue + "-2") == (0, 1)
    finally:
        assert serve.stop() == 0


def test_sighup_while_serve_connects_is_a_reload_not_a_death(tmp_path, container):
    """A SIGHUP that arrived while serve connected, before its reloader trapped the signal,
    killed it by the default action (-1: seen when the test above sent it right after "broker:
    connected" on a loaded machine; `systemctl reload` during a slow start would do the same).
    It is caught from the start and becomes the reloader's first re-read."""
    import signal
    serve = Serve(tmp_path, container)
    old_queue = serve.queue
    serve.start(wait_bound=False)
    try:
        wait_until(lambda: "serve: starting:" in serve.output(), interval=0.001, what="serve to start")
        serve.config.write_text(serve.config.read_text().replace(old_queue, old_queue + "-2"))
        serve.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: configuration re-read" in serve.output() or serve.proc.poll() is not None,
                   what="the reload")
        assert serve.proc.poll() is None, serve.output()
        wait_until(lambda: queue_depth(old_queue + "-2") == (0, 1), what="the new queue consumed")
    finally:
        assert serve.stop() == 0, serve.output()


def test_tls_to_the_broker_is_verified(tmp_path, container):
    port, tls_port = free_port(), free_port()
    broker = Broker(tmp_path / "broker", port, tls_port=tls_port)
    broker.start()
    try:
        url = f"amqps://guest:guest@localhost:{tls_port}/"
        serve = Serve(tmp_path, container, port=port, transport_url=url, extra_amqp=f"ca_cert = {broker.ca_cert}\n")
        proc = serve.check_config()
        assert proc.returncode == 0, proc.stderr
        serve.start()
        publisher = Publisher(amqp_url(port), exchange=serve.exchange)  # Nova publishes on the plain port
        import uuid as uuidlib
        uuid = str(uuidlib.uuid4())
        publisher.send_sample("instance-create-end.json", uuid)
        publisher.close()
        wait_until(lambda: uuid in managed(container), what="the entry, through TLS")
        assert serve.stop() == 0
        # another CA (the directory's): the broker's certificate is not trusted
        other = Serve(tmp_path, container, port=port, name="other-ca", transport_url=url,
                      extra_amqp=f"ca_cert = {ENV['NOVA_DIRSVC_TEST_CA_CERT']}\n")
        proc = other.check_config()
        assert proc.returncode == 69 and "SSL" in proc.stderr, proc.stderr
        # the system's CA bundle by default: not trusted either, never unverified
        default = Serve(tmp_path, container, port=port, name="default-ca", transport_url=url)
        assert default.check_config().returncode == 69
        # a CA file that holds no certificate: a setting to fix, said by rabbitmq-c
        not_a_cert = tmp_path / "not-a-cert.pem"
        not_a_cert.write_text("hello\n")
        bad = Serve(tmp_path, container, port=port, name="bad-ca", transport_url=url, extra_amqp=f"ca_cert = {not_a_cert}\n")
        proc = bad.check_config()
        assert proc.returncode == 64 and "cannot use the CA certificate file" in proc.stderr, proc.stderr
        # a missing CA file is a setting to fix
        missing = Serve(tmp_path, container, port=port, name="missing-ca", transport_url=url, extra_amqp="ca_cert = /nonexistent/ca.pem\n")
        proc = missing.check_config()
        assert proc.returncode == 64 and "/nonexistent/ca.pem" in proc.stderr
    finally:
        broker.remove()


def test_help_for_the_tool_and_the_service():
    for args in (["--help"], ["register", "--help"], ["serve", "--help"]):
        proc = subprocess.run([BIN, *args], capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stdout.startswith("OVERVIEW:"), (args, proc.stdout, proc.stderr)
    serve_help = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True).stdout
    assert "--check-config" in serve_help and "--stats-interval" in serve_help and "[amqp]" in serve_help


def test_the_cli_loads_no_broker_code_and_says_when_the_service_is_missing(tmp_path):
    """`serve` is its own executable: the CLI that a hook starts per event links neither
    librabbitmq nor OpenSSL (start-up time), and a CLI installed alone says what is missing."""
    libraries = subprocess.run(["ldd", BIN], capture_output=True, text=True).stdout
    assert "librabbitmq" not in libraries and "libssl" not in libraries
    alone = tmp_path / "nova-dirsvc"
    import shutil
    shutil.copy(BIN, alone)
    proc = subprocess.run([str(alone), "serve", "--check-config"], capture_output=True, text=True)
    assert proc.returncode == 69 and "nova-dirsvc-serve" in proc.stderr
