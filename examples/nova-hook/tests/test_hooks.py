"""The hooks, loaded as Nova loaded them (stevedore, nova.hooks, invoke_on_load), called with
small stand-ins shaped like Nova's objects, against the real CLI and the real 389-ds."""
import base64
import logging
import os
import subprocess
import uuid as uuidlib
from types import SimpleNamespace

import pytest
from stevedore import extension, hook

URI = os.environ.get("NOVA_DIRSVC_TEST_URI")
LDAPI = os.environ.get("NOVA_DIRSVC_TEST_LDAPI_URI")
BASE = os.environ.get("NOVA_DIRSVC_TEST_BASE_DN")

pytestmark = pytest.mark.skipif(not URI, reason="no test directory: run scripts/test.sh")


def ldapsearch(base, filt):
    proc = subprocess.run(["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-Q", "-Y", "EXTERNAL", "-H", LDAPI,
                           "-b", base, filt, "*"], capture_output=True, text=True)
    assert proc.returncode in (0, 32), proc.stderr
    entries = []
    for block in proc.stdout.strip().split("\n\n"):
        attrs = {}
        for line in block.splitlines():
            name, _, rest = line.partition(":")
            value = base64.b64decode(rest[1:].strip()).decode() if rest.startswith(":") else rest.strip()
            attrs.setdefault(name.lower(), []).append(value)
        if attrs:
            entries.append(attrs)
    return entries


@pytest.fixture
def container(tmp_path, monkeypatch):
    """A fresh container, and the CLI pointed at it through NOVA_DIRSVC_* (as an operator would
    through /etc/nova-dirsvc/nova-dirsvc.conf)."""
    name = "hook-" + uuidlib.uuid4().hex[:8]
    dn = "ou=%s,%s" % (name, BASE)
    subprocess.run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", LDAPI],
                   input="dn: %s\nobjectClass: top\nobjectClass: organizationalUnit\nou: %s\n" % (dn, name),
                   check=True, capture_output=True, text=True)
    monkeypatch.setenv("NOVA_DIRSVC_URI", URI)
    monkeypatch.setenv("NOVA_DIRSVC_BIND_DN", os.environ["NOVA_DIRSVC_TEST_SERVICE_DN"])
    monkeypatch.setenv("NOVA_DIRSVC_PASSWORD_FILE", os.environ["NOVA_DIRSVC_TEST_SERVICE_PASSWORD_FILE"])
    monkeypatch.setenv("NOVA_DIRSVC_BASE_DN", dn)
    monkeypatch.setenv("NOVA_DIRSVC_LOG_FILE", str(tmp_path / "events.log"))
    monkeypatch.setenv("NOVA_DIRSVC_TIMEOUT", "3")
    monkeypatch.setenv("NOVA_DIRSVC_SPOOL_DIR", str(tmp_path / "spool"))
    return dn


def nova_instance(uuid, macs=(), ips=(), image_ref="035c2bc7-f2be-4607-afcf-c3b6237e9fe5"):
    """Shaped like nova.objects.Instance with its info cache (network_info: a list of VIFs)."""
    vifs = [{"address": mac, "network": {"subnets": [{"ips": [{"address": ip}]} for ip in ips]}} for mac in macs]
    return SimpleNamespace(uuid=uuid, image_ref=image_ref, hostname="web-1",
                           info_cache=SimpleNamespace(network_info=vifs))


def request_context():
    """Shaped like nova.context.RequestContext."""
    return SimpleNamespace(project_name="admin", user_name="admin", remote_address="192.168.122.97",
                           project_id="6f70656e737461636b20342065766572", user_id="fake")


def load_hooks():
    """As nova/hooks.py did: stevedore on the nova.hooks namespace, objects made on load."""
    manager = extension.ExtensionManager(namespace="nova.hooks", invoke_on_load=True)
    return {ext.name: ext.obj for ext in manager}


def test_entry_points_are_found_by_stevedore():
    hooks = load_hooks()
    assert set(hooks) >= {"create_instance", "delete_instance"}
    # and by name, exactly as Nova's HookManager(name) asked for them
    assert [e.name for e in hook.HookManager("nova.hooks", "create_instance", invoke_on_load=True)] == ["create_instance"]


def test_create_then_delete_through_the_hooks(container):
    hooks = load_hooks()
    uuid = str(uuidlib.uuid4())
    instance = nova_instance(uuid, macs=["fa:16:3e:56:50:29"], ips=["10.0.0.5"])
    compute_api, flavor = object(), {"name": "m1.tiny"}
    image_href = "http://glance.example.com:9292/images/035c2bc7-f2be-4607-afcf-c3b6237e9fe5"
    # API.create(self, context, instance_type, image_href, ...) -> (instances, reservation_id)
    hooks["create_instance"].post(([instance], "r-abc123"), compute_api, request_context(), flavor, image_href)

    entries = ldapsearch(container, "(novaInstanceUUID=%s)" % uuid)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["dn"] == ["cn=%s,%s" % (uuid, container)]
    assert entry["novaimageuuid"] == ["035c2bc7-f2be-4607-afcf-c3b6237e9fe5"]
    assert entry["macaddress"] == ["fa:16:3e:56:50:29"]
    assert entry["novaprojectname"] == ["admin"] and entry["novausername"] == ["admin"]
    assert entry["novauserremoteaddress"] == ["192.168.122.97"]
    assert entry["novaipaddress"] == ["10.0.0.5"] and entry["novahostname"] == ["web-1"]

    # ComputeManager._delete_instance(self, context, instance, bdms)
    hooks["delete_instance"].pre(object(), request_context(), instance, [])
    assert ldapsearch(container, "(novaInstanceUUID=%s)" % uuid) == []


def test_create_before_networking_and_boot_from_volume(container):
    """At API time Nova has not allocated ports yet, and a volume-backed server has no image."""
    uuid = str(uuidlib.uuid4())
    load_hooks()["create_instance"].post(([nova_instance(uuid, image_ref="")], "r-1"), object(), request_context(), {}, "")
    entries = ldapsearch(container, "(novaInstanceUUID=%s)" % uuid)
    assert len(entries) == 1
    assert "macaddress" not in entries[0] and "novaimageuuid" not in entries[0]


def test_failures_never_raise_into_nova(container, monkeypatch, caplog):
    hooks = load_hooks()
    caplog.set_level(logging.INFO, logger="nova_dirsvc_hook")
    # the directory is unreachable
    monkeypatch.setenv("NOVA_DIRSVC_URI", "ldap://127.0.0.1:1")
    hooks["create_instance"].post(([nova_instance(str(uuidlib.uuid4()))], "r"), object(), request_context(), {}, "")
    assert "queued (exit 75)" in caplog.text
    # bad input from Nova's side
    hooks["delete_instance"].pre(object(), request_context(), SimpleNamespace(uuid="not-a-uuid"))
    assert "exit 65" in caplog.text
    # garbage arguments: nothing to register, and an unregister without a UUID is refused by
    # the CLI (logged), never raised into Nova
    caplog.clear()
    hooks["create_instance"].post(None)
    assert caplog.text == ""
    hooks["delete_instance"].pre()
    assert "nova-dirsvc unregister None failed (exit 65)" in caplog.text
    # the CLI missing altogether
    monkeypatch.setenv("NOVA_DIRSVC_BIN", "/nonexistent/nova-dirsvc")
    hooks = load_hooks()
    hooks["delete_instance"].pre(object(), request_context(), SimpleNamespace(uuid=str(uuidlib.uuid4())))
    assert "could not run" in caplog.text


def test_the_cli_always_gets_to_queue_within_the_hooks_limit(container, monkeypatch, caplog, tmp_path):
    """Three servers that accept and never answer (listening sockets nobody accepts on): the
    hook's limit (4 s) covers the CLI's whole budget, so the CLI queues the event in time."""
    import socket
    import time
    silent = []
    for _ in range(3):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        silent.append(s)
    monkeypatch.setenv("NOVA_DIRSVC_URI", " ".join("ldaps://127.0.0.1:%d" % s.getsockname()[1] for s in silent))
    monkeypatch.setenv("NOVA_DIRSVC_CA_CERT", os.environ["NOVA_DIRSVC_TEST_CA_CERT"])
    monkeypatch.setenv("NOVA_DIRSVC_TIMEOUT", "30")  # the hook's own limit wins over this
    monkeypatch.setenv("NOVA_DIRSVC_HOOK_TIMEOUT", "4")
    caplog.set_level(logging.INFO, logger="nova_dirsvc_hook")
    hooks = load_hooks()
    # one API call that creates three instances: the whole call stays within the hook's limit
    # (plus a fraction of a second an instance), not three times it
    uuids = [str(uuidlib.uuid4()) for _ in range(3)]
    start = time.monotonic()
    hooks["create_instance"].post(([nova_instance(u) for u in uuids], "r"), object(), request_context(), {}, "")
    assert time.monotonic() - start < 4 + 3 * 0.5
    assert caplog.text.count("queued (exit 75)") == 3
    spooled = " ".join(p.read_text() for p in (tmp_path / "spool").glob("*.event"))
    assert all(u in spooled for u in uuids)
    for s in silent:
        s.close()


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def service(container, tmp_path, monkeypatch):
    """`nova-dirsvc serve` with its HTTP side only, configured through the same NOVA_DIRSVC_*
    as the CLI, and the hook pointed at it (HTTP mode)."""
    import time
    port = _free_port()
    token = tmp_path / "token"
    token.write_text("hook-token\n")
    token.chmod(0o600)
    env = dict(os.environ, NOVA_DIRSVC_HTTP_LISTEN="127.0.0.1:%d" % port, NOVA_DIRSVC_HTTP_TOKEN_FILE=str(token))
    binary = os.environ.get("NOVA_DIRSVC_BIN", "nova-dirsvc")
    stderr = open(tmp_path / "serve.stderr", "wb")
    proc = subprocess.Popen([binary, "serve", "--config", "/dev/null"], env=env, stderr=stderr)
    for _ in range(100):
        if b"http: listening" in (tmp_path / "serve.stderr").read_bytes():
            break
        time.sleep(0.1)
    monkeypatch.setenv("NOVA_DIRSVC_URL", "http://127.0.0.1:%d" % port)
    monkeypatch.setenv("NOVA_DIRSVC_TOKEN_FILE", str(token))
    yield proc
    proc.terminate()
    proc.wait(timeout=30)


def test_http_mode_posts_the_dict_and_deletes_by_uuid(service, container, monkeypatch, caplog):
    monkeypatch.setenv("NOVA_DIRSVC_BIN", "/nonexistent/nova-dirsvc")  # so only the service can have done it
    caplog.set_level(logging.INFO, logger="nova_dirsvc_hook")
    hooks = load_hooks()
    uuid = str(uuidlib.uuid4())
    instance = nova_instance(uuid, macs=["fa:16:3e:56:50:29"], ips=["10.0.0.5"])
    hooks["create_instance"].post(([instance], "r"), object(), request_context(), {}, "")
    entries = ldapsearch(container, "(novaInstanceUUID=%s)" % uuid)
    assert len(entries) == 1 and entries[0]["macaddress"] == ["fa:16:3e:56:50:29"]
    assert '"outcome":"added"' in caplog.text
    hooks["delete_instance"].pre(object(), request_context(), instance, [])
    assert ldapsearch(container, "(novaInstanceUUID=%s)" % uuid) == []
    assert "could not run" not in caplog.text


def test_http_mode_falls_back_to_the_cli_when_the_service_does_not_answer(container, monkeypatch, caplog):
    import socket
    import time
    silent = socket.socket()  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    caplog.set_level(logging.INFO, logger="nova_dirsvc_hook")
    for url in ("http://127.0.0.1:%d" % _free_port(), "http://127.0.0.1:%d" % silent.getsockname()[1]):
        monkeypatch.setenv("NOVA_DIRSVC_URL", url)
        monkeypatch.setenv("NOVA_DIRSVC_HTTP_TIMEOUT", "0.5")
        hooks = load_hooks()
        uuid = str(uuidlib.uuid4())
        start = time.monotonic()
        hooks["create_instance"].post(([nova_instance(uuid)], "r"), object(), request_context(), {}, "")
        assert time.monotonic() - start < 4
        assert len(ldapsearch(container, "(novaInstanceUUID=%s)" % uuid)) == 1  # through the CLI
        assert "falling back to the CLI" in caplog.text
        caplog.clear()
    silent.close()


def test_http_mode_falls_back_on_a_4xx_that_is_not_serves_own(container, monkeypatch, caplog):
    """Something else on the port (a web server, a proxy) answering 404: not the service's
    refusal of the event, so the event goes through the CLI (and its spool), never dropped."""
    import http.server
    import threading

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<h1>Not Found</h1>")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("NOVA_DIRSVC_URL", "http://127.0.0.1:%d" % server.server_address[1])
        caplog.set_level(logging.INFO, logger="nova_dirsvc_hook")
        hooks = load_hooks()
        uuid = str(uuidlib.uuid4())
        hooks["create_instance"].post(([nova_instance(uuid)], "r"), object(), request_context(), {}, "")
        assert len(ldapsearch(container, "(novaInstanceUUID=%s)" % uuid)) == 1  # through the CLI
        assert "answered 404" in caplog.text and "falling back to the CLI" in caplog.text
    finally:
        server.shutdown()


def test_http_mode_takes_serves_own_refusal_as_final(service, container, monkeypatch, caplog):
    monkeypatch.setenv("NOVA_DIRSVC_BIN", "/nonexistent/nova-dirsvc")  # a fallback would say "could not run"
    caplog.set_level(logging.INFO, logger="nova_dirsvc_hook")
    hooks = load_hooks()
    hooks["create_instance"].post(([nova_instance("not-a-uuid")], "r"), object(), request_context(), {}, "")
    assert "refused by the service (400)" in caplog.text and "instance_uuid" in caplog.text
    assert "falling back" not in caplog.text and "could not run" not in caplog.text
