"""`nova-dirsvc serve` over HTTP (issue 12): the routes with real clients (keystoneauth1, what
Nova's vendordata client is; requests for the plain posts), against the real 389-ds; ldapsearch
checks what the service wrote."""
import json
import os
import signal
import subprocess
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from helpers import ENV, assert_within_budget, free_port, ldap, managed, record, search, server_pid
from serve_helpers import Serve, wait_until

TOKEN = "t0ken-" + uuidlib.uuid4().hex


@pytest.fixture
def http(tmp_path, container):
    """An HTTP-only serve with a token, on a free loopback port."""
    port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    serve = Serve(tmp_path, container, bus=False, timeout="2",
                  http=f"listen = 127.0.0.1:{port}\ntoken_file = {token_file}\n")
    serve.url = f"http://127.0.0.1:{port}"
    serve.start()
    yield serve
    assert serve.stop() == 0  # SIGTERM: requests in hand finished, exits 0


def post(serve, path, body, token=TOKEN, **kwargs):
    headers = {"X-Auth-Token": token} if token else {}
    return requests.post(serve.url + path, data=json.dumps(body) if not isinstance(body, (bytes, str)) else body,
                         headers={"Content-Type": "application/json", **headers, **kwargs.pop("headers", {})}, timeout=10, **kwargs)


def test_register_update_show_unregister_with_their_statuses(http, container):
    r = record()
    uuid = r["instance_uuid"]
    created = post(http, "/v1/instances", r)
    assert created.status_code == 201 and created.json() == {"instance_uuid": uuid, "outcome": "added"}
    assert managed(container)[uuid]["novaprojectname"] == ["admin"]
    again = post(http, "/v1/instances", r)
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    changed = post(http, "/v1/instances", dict(r, project_name="demo"))
    assert changed.status_code == 200 and changed.json()["outcome"] == "updated"
    assert managed(container)[uuid]["novaprojectname"] == ["demo"]
    shown = requests.get(f"{http.url}/v1/instances/{uuid}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert shown.status_code == 200 and shown.json()["attributes"]["novaProjectName"] == ["demo"]
    deleted = requests.delete(f"{http.url}/v1/instances/{uuid}", headers={"X-Auth-Token": TOKEN}, timeout=10)
    assert deleted.status_code == 200 and deleted.json()["outcome"] == "deleted"
    assert uuid not in managed(container)
    absent = requests.delete(f"{http.url}/v1/instances/{uuid}", headers={"X-Auth-Token": TOKEN}, timeout=10)
    assert absent.status_code == 200 and absent.json()["outcome"] == "absent"
    missing = requests.get(f"{http.url}/v1/instances/{uuid}", headers={"X-Auth-Token": TOKEN}, timeout=10)
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/problem+json"
    # every event form the CLI takes: Nova's own notification in its oslo envelope
    envelope = (ENV.get("PWD", ".") and open(os.path.join(os.path.dirname(__file__), "..", "Fixtures", "nova",
                                                            "instance-create-end.oslo-envelope.json")).read())
    from_notification = post(http, "/v1/instances", envelope)
    assert from_notification.status_code == 201
    # a value left out (odd but not needed): added all the same, and the answer names it
    odd = record(mac_address="not a MAC")
    answered = post(http, "/v1/instances", odd)
    assert answered.status_code == 201, answered.text
    left_out = answered.json()["left_out"]
    assert [item["field"] for item in left_out] == ["mac_address"] and left_out[0]["reason"]
    assert "macaddress" not in managed(container)[odd["instance_uuid"]]


def test_keystoneauth_sessions_as_novas_vendordata_client(http, container):
    from keystoneauth1 import session as ks_session
    from keystoneauth1 import token_endpoint
    sess = ks_session.Session(auth=token_endpoint.Token(http.url, TOKEN))
    uuid = str(uuidlib.uuid4())
    # what nova/api/metadata/vendordata_dynamic.py posts
    body = {"project-id": "6f70656e737461636b20342065766572", "instance-id": uuid,
            "image-id": "155d900f-4e14-4e4c-a73d-069cbf4541e6", "user-data": None, "hostname": "vm-1",
            "metadata": {"k": "v"}, "boot-roles": "member,reader"}
    response = sess.post(http.url + "/v1/vendordata", data=json.dumps(body),
                         headers={"Accept": "application/json", "Content-Type": "application/json",
                                  "User-Agent": "openstack-nova-vendordata"}, timeout=5, raise_exc=False)
    assert response.status_code == 200, response.text
    assert response.json() == {"dn": f"cn={uuid},{container}", "instance_uuid": uuid, "outcome": "added"}
    entry = managed(container)[uuid]
    assert entry["novahostname"] == ["vm-1"] and entry["novaimageuuid"] == ["155d900f-4e14-4e4c-a73d-069cbf4541e6"]
    assert "macaddress" not in entry
    # the DICT through the same session, and its MAC left alone by a later vendordata call
    r = record(uuid=uuid)
    assert sess.post(http.url + "/v1/instances", json=r, raise_exc=False).status_code == 200
    sess.post(http.url + "/v1/vendordata", data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert managed(container)[uuid]["macaddress"] == [r["mac_address"]]


def test_bad_requests_are_refused_and_nothing_is_written(http, container, tmp_path):
    before = managed(container)
    for token in (None, "wrong", TOKEN[:-1]):
        refused = post(http, "/v1/instances", record(), token=token)
        assert refused.status_code == 401
        assert refused.json()["detail"] == "valid credentials are needed (X-Auth-Token, Authorization: Bearer or Basic)"
    assert requests.get(f"{http.url}/v1/instances/{uuidlib.uuid4()}", timeout=5).status_code == 401
    bad = post(http, "/v1/instances", record(mac_address=None, instance_uuid="not-a-uuid"))
    assert bad.status_code == 400 and bad.json()["field"] == "instance_uuid"
    missing = post(http, "/v1/instances", {"instance_uuid": str(uuidlib.uuid4())})
    assert missing.status_code == 400 and missing.json()["field"] == "image_uuid"
    assert post(http, "/v1/instances", b"x" * (2 << 20)).status_code == 413
    assert post(http, "/v1/instances", "a=b", headers={"Content-Type": "text/plain"}).status_code == 415
    assert post(http, "/v1/instances", "{not json").status_code == 400
    assert managed(container) == before
    foreign = str(uuidlib.uuid4())
    ldap("ldapadd", input=f"dn: cn={foreign},{container}\nobjectClass: top\nobjectClass: person\ncn: {foreign}\nsn: x\n")
    refused = post(http, "/v1/instances", record(uuid=foreign))
    assert refused.status_code == 403 and "novaInstance" in refused.json()["detail"]
    assert TOKEN not in http.output() + (http.log_file.read_text() if http.log_file.exists() else "")
    # /healthz needs no token and says how the directory is
    health = requests.get(f"{http.url}/healthz", timeout=5)
    assert health.status_code == 200 and health.json() == {"directory": "ok", "spool_depth": 0}


def test_the_directory_stopped_requests_are_queued_then_applied(http, container):
    pid = server_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        records = [record() for _ in range(5)]
        for r in records:
            answer = post(http, "/v1/instances", r)
            assert answer.status_code == 202 and answer.json()["outcome"] == "queued"
        uuid = str(uuidlib.uuid4())
        vendordata = post(http, "/v1/vendordata", {"instance-id": uuid, "project-id": "p", "hostname": "h"})
        assert vendordata.status_code == 200 and vendordata.json()["outcome"] == "queued"  # Nova's metadata does not fail
        assert requests.get(f"{http.url}/healthz", timeout=10).status_code == 503
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: set(r["instance_uuid"] for r in records) | {uuid} <= set(managed(container)), timeout=30,
               what="the queued requests applied by the service")
    assert http.pending_files() == []


def test_a_thousand_registers_from_32_connections_then_their_deletes(http, container):
    records = [record() for _ in range(1000)]
    local = __import__("threading").local()

    def call(method, r):
        if not hasattr(local, "session"):
            local.session = requests.Session()  # keep-alive: one connection a thread
        if method == "post":
            return local.session.post(http.url + "/v1/instances", json=r, headers={"X-Auth-Token": TOKEN}, timeout=30).status_code
        return local.session.delete(f"{http.url}/v1/instances/{r['instance_uuid']}", headers={"X-Auth-Token": TOKEN},
                                    timeout=30).status_code

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(lambda r: call("post", r), records))
    assert set(statuses) == {201}
    assert set(managed(container)) == {r["instance_uuid"] for r in records}
    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(lambda r: call("delete", r), records))
    assert set(statuses) == {200}
    assert managed(container) == {}
    # memory stays bounded (the process is nova-dirsvc-serve: `nova-dirsvc serve` execs it)
    rss_kb = int(next(l for l in open(f"/proc/{http.proc.pid}/status") if l.startswith("VmRSS:")).split()[1])
    assert rss_kb < 100 * 1024, rss_kb


def test_overload_is_503_with_retry_after_and_never_anything_else(tmp_path, container):
    port = free_port()
    serve = Serve(tmp_path, container, bus=False, http=f"listen = 127.0.0.1:{port}\nmax_in_flight = 2\n").start()
    url = f"http://127.0.0.1:{port}/v1/instances"
    try:
        records = [record() for _ in range(300)]
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(lambda r: requests.post(url, json=r, timeout=30), records))
        statuses = [a.status_code for a in answers]
        assert set(statuses) <= {201, 503} and 503 in statuses and 201 in statuses
        assert all(a.headers.get("Retry-After") == "1" for a in answers if a.status_code == 503)
        accepted = {r["instance_uuid"] for r, a in zip(records, answers) if a.status_code == 201}
        assert set(managed(container)) == accepted
    finally:
        serve.stop()


def make_tls(tls):
    """A CA of its own and a server certificate for localhost/127.0.0.1 signed by it, in `tls`."""
    tls.mkdir()
    subprocess.run(f"""set -e; cd {tls}
      openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=TestCA \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > ext.cnf
      openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out server.crt -extfile ext.cnf 2>/dev/null
      chmod 600 server.key""", shell=True, check=True)
    return tls


def test_tls_listener_and_the_insecure_listen_policy(tmp_path, container):
    tls = make_tls(tmp_path / "tls")
    port = free_port()
    serve = Serve(tmp_path, container, bus=False, name="tls",
                  http=f"listen = 127.0.0.1:{port}\ntls_cert = {tls}/server.crt\ntls_key = {tls}/server.key\n").start()
    try:
        r = record()
        answer = requests.post(f"https://localhost:{port}/v1/instances", json=r, verify=str(tls / "ca.crt"), timeout=10)
        assert answer.status_code == 201
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"https://localhost:{port}/healthz", verify=ENV["NOVA_DIRSVC_TEST_CA_CERT"], timeout=10)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://localhost:{port}/healthz", timeout=10)  # plain HTTP to the TLS port
    finally:
        serve.stop()
    # a listener others can reach, without TLS: refused unless the operator says so
    exposed = Serve(tmp_path, container, bus=False, name="exposed", http=f"listen = 0.0.0.0:{free_port()}\n")
    proc = exposed.check_config()
    assert proc.returncode == 64 and "without TLS" in proc.stderr
    allowed = Serve(tmp_path, container, bus=False, name="allowed",
                    http=f"listen = 0.0.0.0:{free_port()}\nallow_insecure_listen = true\n")
    assert allowed.check_config().returncode == 0


def test_http_basic_users_as_keystoneauths_http_basic_plugin(tmp_path, container):
    from keystoneauth1 import http_basic
    from keystoneauth1 import session as ks_session
    users = tmp_path / "users"
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input="n0va-pass\n", capture_output=True, text=True,
                            check=True).stdout.strip()
    users.write_text(f"# nova's vendordata client\nnova:{hashed}\n")
    users.chmod(0o600)
    port = free_port()
    serve = Serve(tmp_path, container, bus=False, http=f"listen = 127.0.0.1:{port}\nbasic_auth_file = {users}\n").start()
    url = f"http://127.0.0.1:{port}"
    try:
        good = ks_session.Session(auth=http_basic.HTTPBasicAuth(endpoint=url, username="nova", password="n0va-pass"))
        uuid = str(uuidlib.uuid4())
        answer = good.post(url + "/v1/vendordata", json={"instance-id": uuid, "hostname": "vm"}, raise_exc=False)
        assert answer.status_code == 200 and answer.json()["outcome"] == "added"
        for user, password in (("nova", "wrong"), ("nobody", "n0va-pass")):
            bad = ks_session.Session(auth=http_basic.HTTPBasicAuth(endpoint=url, username=user, password=password))
            refused = bad.post(url + "/v1/vendordata", json={"instance-id": str(uuidlib.uuid4())}, raise_exc=False)
            assert refused.status_code == 401 and "Basic" in refused.headers["WWW-Authenticate"]
        assert "n0va-pass" not in serve.output()
    finally:
        serve.stop()
    users.chmod(0o644)
    proc = Serve(tmp_path, container, bus=False, name="exposed-users",
                 http=f"listen = 127.0.0.1:{free_port()}\nbasic_auth_file = {users}\n").check_config()
    assert proc.returncode == 64 and "basic auth file" in proc.stderr


def test_an_unknown_basic_user_costs_what_a_known_one_does(tmp_path, container):
    """Issue 21: with an expensive hash (SHA-512 with 300,000 rounds; yescrypt is the same case)
    a wrong password of a known user took 27-215 ms and any unknown user 3.3 ms (a decoy hash
    of the default cost): the time told which users exist. The decoy is now the configured hash
    that costs the most. Compared within the run, pair by pair: a known and an unknown login back
    to back see the same load (two batches of seven did not: a build starting between them once
    made the known batch the fast one); the bug made every pair's ratio about 0.1."""
    import statistics
    import time
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    users = tmp_path / "users"
    users.write_text(f"cheap:{crypt.crypt('x', '$6$cheapsalt$')}\n"
                     f"nova:{crypt.crypt('n0va-pass', '$6$rounds=300000$saltsalt$')}\n")
    users.chmod(0o600)
    port = free_port()
    serve = Serve(tmp_path, container, bus=False, http=f"listen = 127.0.0.1:{port}\nbasic_auth_file = {users}\n").start()
    url = f"http://127.0.0.1:{port}/v1/instances/{uuidlib.uuid4()}"
    try:
        def login(user):
            start = time.monotonic()
            answer = requests.get(url, auth=(user, "wrong"), timeout=30)
            assert answer.status_code == 401
            return time.monotonic() - start
        ratios = [login("nobody") / login("nova") for _ in range(9)]
        assert statistics.median(ratios) >= 0.5, ratios
    finally:
        assert serve.stop() == 0


def both_sides(tmp_path, container):
    """A started serve with the bus and the HTTP side (with the token); its URL."""
    port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    serve = Serve(tmp_path, container, http=f"listen = 127.0.0.1:{port}\ntoken_file = {token_file}\n").start()
    wait_until(lambda: "http: listening" in serve.output(), what="the HTTP side")
    return serve, f"http://127.0.0.1:{port}"


def test_metrics_in_prometheus_text_format(tmp_path, container):
    """/metrics (token asked): requests by route and status, directory operation latency,
    spool depth, and the bus side's messages by outcome when both sides run in one serve."""
    from nova_bus import Publisher
    from serve_helpers import amqp_url
    serve, url = both_sides(tmp_path, container)
    try:
        headers = {"X-Auth-Token": TOKEN}
        assert requests.post(url + "/v1/instances", json=record(), headers=headers, timeout=10).status_code == 201
        assert requests.post(url + "/v1/instances", json={"instance_uuid": "x"}, headers=headers, timeout=10).status_code == 400
        publisher = Publisher(amqp_url(), exchange=serve.exchange)
        uuid = str(uuidlib.uuid4())
        publisher.send_sample("instance-create-end.json", uuid)
        publisher.close()
        wait_until(lambda: uuid in managed(container), what="the notification applied")
        assert requests.get(url + "/metrics", timeout=10).status_code == 401
        text = wait_until(lambda: (lambda t: t if 'outcome="applied"} 1' in t else None)(
            requests.get(url + "/metrics", headers=headers, timeout=10).text), what="the bus counters in /metrics")
        assert 'nova_dirsvc_http_requests_total{route="/v1/instances",method="POST",status="201"} 1' in text
        assert 'nova_dirsvc_http_requests_total{route="/v1/instances",method="POST",status="400"} 1' in text
        assert 'nova_dirsvc_directory_operation_duration_seconds_count{operation="register"} 1' in text
        assert "nova_dirsvc_spool_depth 0" in text
        assert 'nova_dirsvc_bus_messages_total{outcome="received"} 1' in text
    finally:
        serve.stop()


def _load(url, records, threads=16):
    """Posts the records from `threads` keep-alive clients; [(record, status or None, seconds)]."""
    import threading
    import time
    local = threading.local()

    def one(r):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        start = time.monotonic()
        try:
            status = local.session.post(url + "/v1/instances", json=r, headers={"X-Auth-Token": TOKEN}, timeout=30).status_code
        except requests.exceptions.RequestException:
            status = None
        return r, status, time.monotonic() - start

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, records))


def test_the_directory_stopped_mid_load(http, container):
    import threading
    import time
    records = [record() for _ in range(600)]
    pid = server_pid()
    stopper = threading.Timer(0.5, lambda: os.kill(pid, signal.SIGSTOP))
    stopper.start()
    try:
        answers = _load(http.url, records)
        time.sleep(0)  # the load is over
    finally:
        stopper.join()
        os.kill(pid, signal.SIGCONT)
    statuses = {status for _, status, _ in answers}
    assert statuses <= {201, 202} and 202 in statuses, statuses
    # within the budget (timeout 2 s, once behind a batch that waited too), never hung; the
    # reference: the slowest request answered before the directory stopped, under the same load
    reference = max(seconds for _, status, seconds in answers if status == 201)
    assert_within_budget(max(seconds for _, _, seconds in answers), 2 * 2, reference, "a POST while the directory stopped")
    wait_until(lambda: len(managed(container)) == len(records), timeout=60, what="every request applied")
    assert http.pending_files() == []


def test_kill_9_under_load_loses_no_acknowledged_request(http, container):
    import threading
    records = [record() for _ in range(800)]
    killer = threading.Timer(1.0, lambda: http.proc.kill())
    killer.start()
    answers = _load(http.url, records)
    killer.join()
    http.proc.wait()
    acknowledged = {r["instance_uuid"] for r, status, _ in answers if status in (200, 201, 202)}
    assert 0 < len(acknowledged) < len(records)  # killed mid-load
    http.start()
    # what got 2xx is in the directory, or in the spool that the restarted service drains
    wait_until(lambda: acknowledged <= set(managed(container)), timeout=60, what="every acknowledged request")


def test_what_is_not_a_register_and_what_the_directory_answers(http, container):
    from helpers import fixture_text
    delete_end = post(http, "/v1/instances", fixture_text("instance-delete-end.json"))
    assert delete_end.status_code == 400 and delete_end.json()["field"] == "event_type"
    # the directory paused: a read answers 503 with Retry-After (the writes queue, tested above)
    pid = server_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        shown = requests.get(f"{http.url}/v1/instances/{uuidlib.uuid4()}", headers={"X-Auth-Token": TOKEN}, timeout=15)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert shown.status_code == 503 and shown.headers["Retry-After"] == "5"
    assert shown.json()["title"] == "the directory is unavailable"


def test_a_problem_on_the_services_side_is_queued_and_said(tmp_path, container):
    """The base DN gone under the service (389-ds then answers insufficientAccessRights): the
    request is durably queued (202, with the reason), and applied once the base DN is back."""
    base = f"ou=gone,{container}"
    ldap("ldapadd", input=f"dn: {base}\nobjectClass: organizationalUnit\nou: gone\n")
    port = free_port()
    serve = Serve(tmp_path, base, bus=False, http=f"listen = 127.0.0.1:{port}\n").start()
    try:
        ldap("ldapdelete", base)
        r = record()
        answer = requests.post(f"http://127.0.0.1:{port}/v1/instances", json=r, timeout=15)
        assert answer.status_code == 202 and answer.json()["outcome"] == "queued" and answer.json()["reason"]
        ldap("ldapadd", input=f"dn: {base}\nobjectClass: organizationalUnit\nou: gone\n")
        wait_until(lambda: r["instance_uuid"] in managed(base), timeout=60, what="applied once the base DN is back")
    finally:
        assert serve.stop() == 0


def test_a_taken_port_and_a_missing_event_log_folder_are_found_by_check_config(tmp_path, container, http):
    """The port another process holds: check-config says so (64), and so does a serve started
    anyway, in words (no function names of the libraries); an event log whose folder does not
    exist: check-config says so before serve would log nothing."""
    port = int(http.url.rsplit(":", 1)[1])
    taken = Serve(tmp_path, container, bus=False, name="taken", http=f"listen = 127.0.0.1:{port}\n")
    proc = taken.check_config()
    assert proc.returncode == 64, proc.stderr
    assert f"[http] listen 127.0.0.1:{port}: Address already in use" in proc.stderr
    taken.start(wait_bound=False)
    assert taken.proc.wait(timeout=30) == 64
    assert "Address already in use" in taken.output() and "bind(" not in taken.output()
    nolog = Serve(tmp_path, container, bus=False, name="nolog", http=f"listen = 127.0.0.1:{free_port()}\n")
    nolog.config.write_text(nolog.config.read_text().replace(f"log_file = {nolog.log_file}",
                                                             f"log_file = {tmp_path}/missing/events.log"))
    proc = nolog.check_config()
    assert proc.returncode == 64 and f"the event log's folder {tmp_path}/missing" in proc.stderr, proc.stderr


def test_concurrent_scrapes_while_the_bus_runs_never_trap_and_only_grow(tmp_path, container):
    """16 scrapers while 300 notifications go through: every scrape 200, serve alive, each
    counter never goes down (two scrapes at once used to hand swift-prometheus a negative
    increment, which traps)."""
    import re
    import threading
    from test_serve_faults import publish
    serve, base_url = both_sides(tmp_path, container)
    url, problems, done = base_url + "/metrics", [], threading.Event()

    def scrape():
        session, last = requests.Session(), -1
        while not done.is_set():
            try:
                answer = session.get(url, headers={"X-Auth-Token": TOKEN}, timeout=10)
            except requests.exceptions.RequestException as error:
                problems.append(repr(error))
                return
            if answer.status_code != 200:
                problems.append(answer.status_code)
                return
            found = re.search(r'nova_dirsvc_bus_messages_total\{outcome="received"\} (\d+)', answer.text)
            value = int(found.group(1)) if found else 0
            if value < last:
                problems.append(f"received went from {last} to {value}")
            last = value

    scrapers = [threading.Thread(target=scrape) for _ in range(16)]
    for t in scrapers:
        t.start()
    try:
        assert publish(70_000, 300, serve.exchange).wait(timeout=120) == 0
        wait_until(lambda: len(managed(container)) == 300, timeout=60, what="all 300 applied")
    finally:
        done.set()
        for t in scrapers:
            t.join(timeout=30)
    assert problems == [] and serve.proc.poll() is None
    text = requests.get(url, headers={"X-Auth-Token": TOKEN}, timeout=10).text
    assert 'nova_dirsvc_bus_messages_total{outcome="received"} 300' in text
    assert serve.stop() == 0


def test_one_writer_the_bus_finding_the_directory_hung_queues_http_requests_without_a_try(tmp_path, container):
    """Issue 22: both intakes hand their events to one writer, with one policy for a directory
    that is down. Once a notification off the bus found the directory hung, an HTTP register is
    queued behind it without a try of its own (its log line carries the bus event's reason, no
    error of its own), and both are applied, in order, once the directory is back."""
    from test_order import envelope, send
    serve, url = both_sides(tmp_path, container)
    pid = server_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        first = str(uuidlib.uuid4())
        send(serve, envelope("instance-create-end.json", first, "2026-12-01 09:00:00.000001"))
        wait_until(lambda: "queueing events" in serve.output(), what="the writer to find the directory hung")
        second = record()
        answer = requests.post(url + "/v1/instances", data=json.dumps(second), timeout=30,
                               headers={"Content-Type": "application/json", "X-Auth-Token": TOKEN})
        assert answer.status_code == 202 and answer.json()["outcome"] == "queued", answer.text
    finally:
        os.kill(pid, signal.SIGCONT)
    lines = [json.loads(line) for line in serve.log_file.read_text().splitlines()]
    bus_line = next(line for line in lines if line.get("instance_uuid") == first)
    http_line = next(line for line in lines if line.get("instance_uuid") == second["instance_uuid"])
    assert bus_line["outcome"] == "queued" and "error" in bus_line  # the try that found it hung
    # no try of its own: queued for the reason the bus event found (not behind it, to try again)
    assert http_line["outcome"] == "queued" and "error" not in http_line, http_line
    assert http_line["detail"] == bus_line["error"], (http_line, bus_line)
    wait_until(lambda: {first, second["instance_uuid"]} <= set(managed(container)), timeout=60,
               what="both applied once the directory is back")
    assert serve.stop() == 0


def handshake(port, ca, version=None, ciphers=None):
    """A TLS handshake with Python's ssl (OpenSSL): None when it succeeded, else the error."""
    import socket
    import ssl
    context = ssl.create_default_context(cafile=str(ca))
    if version:
        context.minimum_version = context.maximum_version = version
    if ciphers:
        context.set_ciphers(ciphers)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost"):
                return None
    except (ssl.SSLError, OSError) as error:
        return error


def test_tls_is_1_2_or_later_with_forward_secrecy_only(tmp_path, container):
    """Issue 21: no TLS 1.0/1.1, no static-RSA key exchange, no CBC; TLS 1.2 with ECDHE and 1.3 work."""
    import ssl
    tls = make_tls(tmp_path / "tls")
    port = free_port()
    serve = Serve(tmp_path, container, bus=False, name="tls",
                  http=f"listen = 127.0.0.1:{port}\ntls_cert = {tls}/server.crt\ntls_key = {tls}/server.key\n").start()
    try:
        assert handshake(port, tls / "ca.crt") is None
        assert handshake(port, tls / "ca.crt", ssl.TLSVersion.TLSv1_3) is None
        assert handshake(port, tls / "ca.crt", ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES128-GCM-SHA256") is None
        # what the server refuses (the client is told to allow it: SECLEVEL=0)
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            assert handshake(port, tls / "ca.crt", version, "DEFAULT:@SECLEVEL=0") is not None, version
        for cipher in ("AES128-GCM-SHA256", "AES256-SHA256", "ECDHE-RSA-AES128-SHA256", "DHE-RSA-AES128-GCM-SHA256"):
            assert handshake(port, tls / "ca.crt", ssl.TLSVersion.TLSv1_2, cipher + ":@SECLEVEL=0") is not None, cipher
    finally:
        assert serve.stop() == 0


def test_sighup_rebuilds_the_whole_configuration_or_none_of_it(tmp_path, container):
    """Issue 22: SIGHUP replaces the directory's base DN for both intakes and /healthz, the
    token, and the TLS certificate, together; a configuration with one part wrong is refused
    whole (the old one stays in force)."""
    from helpers import BASE, ldap
    from test_order import envelope, send
    first = make_tls(tmp_path / "tls1")
    second = make_tls(tmp_path / "tls2")
    port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    serve = Serve(tmp_path, container, http=f"listen = 127.0.0.1:{port}\ntoken_file = {token_file}\n"
                                             f"tls_cert = {first}/server.crt\ntls_key = {first}/server.key\n").start()
    wait_until(lambda: "http: listening" in serve.output(), what="the HTTP side")
    url = f"https://localhost:{port}"

    def post(token, ca):
        return requests.post(url + "/v1/instances", data=json.dumps(record()), timeout=10, verify=str(ca),
                             headers={"Content-Type": "application/json", "X-Auth-Token": token})
    try:
        assert post(TOKEN, first / "ca.crt").status_code == 201
        # the new configuration: another base DN, another token, another certificate
        name = "moved-" + uuidlib.uuid4().hex[:8]
        moved = f"ou={name},{BASE}"
        ldap("ldapadd", input=f"dn: {moved}\nobjectClass: top\nobjectClass: organizationalUnit\nou: {name}\n")
        new_token = "t0ken-" + uuidlib.uuid4().hex
        token_file.write_text(new_token)
        text = serve.config.read_text()
        serve.config.write_text(text.replace(f"base_dn = {container}", f"base_dn = {moved}").replace(str(first), str(second)))
        serve.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: configuration re-read" in serve.output(), what="the reload")
        with pytest.raises(requests.exceptions.SSLError):
            post(new_token, first / "ca.crt")  # the old certificate is gone
        assert post(TOKEN, second / "ca.crt").status_code == 401  # and the old token
        answer = post(new_token, second / "ca.crt")
        assert answer.status_code == 201, answer.text
        assert answer.json()["instance_uuid"] in managed(moved)
        uuid = str(uuidlib.uuid4())
        send(serve, envelope("instance-create-end.json", uuid, "2026-12-01 09:00:00.000001"))
        wait_until(lambda: uuid in managed(moved), what="the bus writing under the new base DN")
        assert requests.get(url + "/healthz", verify=str(second / "ca.crt"), timeout=10).status_code == 200
        # one part wrong (a key that is not there) with a change of the base DN: nothing changes
        serve.config.write_text(serve.config.read_text().replace(f"base_dn = {moved}", f"base_dn = {container}")
                                .replace(f"{second}/server.key", f"{second}/missing.key"))
        serve.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: the configuration was not changed" in serve.output(), what="the refusal")
        assert "missing.key" in serve.output()
        answer = post(new_token, second / "ca.crt")
        assert answer.status_code == 201 and answer.json()["instance_uuid"] in managed(moved)
    finally:
        assert serve.stop() == 0


def test_health_answers_from_state_never_behind_a_hung_directory_and_shows_no_settings(http, container):
    """Issue 21: while the directory hangs, 32 /healthz loops answer at once (from the writer's
    state: a health check that asked the directory would wait the whole time budget, 2 s here,
    behind the others), Nova's vendordata call is still answered within its 5 s, and no answer
    names the bind DN, the base DN or a server."""
    import time
    from helpers import SERVICE_DN, URI
    pid = server_pid()

    def health(_):
        start = time.monotonic()
        answer = requests.get(f"{http.url}/healthz", timeout=30)
        return time.monotonic() - start, answer.status_code, answer.text
    # the reference: the same burst of health checks while the directory answers, timed now
    with ThreadPoolExecutor(32) as pool:
        reference = max(took for took, _, _ in pool.map(health, range(32 * 4)))
    os.kill(pid, signal.SIGSTOP)
    try:
        assert post(http, "/v1/instances", record()).status_code == 202  # the writer found it hung
        with ThreadPoolExecutor(32) as pool:
            checks = pool.map(health, range(32 * 4))
            start = time.monotonic()
            vendordata = post(http, "/v1/vendordata", {"instance-id": str(uuidlib.uuid4()), "project-id": "p", "hostname": "h"})
            vendordata_took = time.monotonic() - start
            checks = list(checks)
        assert vendordata.status_code == 200, vendordata.text
        assert_within_budget(vendordata_took, 2, reference, "vendordata while the directory hangs")  # the writer's 2 s
        assert {status for _, status, _ in checks} == {503}
        # from state: as fast as while the directory answered; asking it would cost its 2 s each
        slowest = max(took for took, _, _ in checks)
        assert slowest < reference + 1.5, (slowest, reference, sorted(took for took, _, _ in checks)[-3:])
        for _, _, text in checks[:3]:
            assert SERVICE_DN not in text and container not in text and URI not in text and "dc=" not in text, text
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: requests.get(f"{http.url}/healthz", timeout=10).status_code == 200, timeout=60,
               what="health back once the queued events are applied")


def test_health_finds_a_directory_that_died_while_serve_was_idle(http, container):
    """The writer looks at the directory every 10 s when nothing is written: /healthz turns 503
    without any request having failed, and 200 again once it answers."""
    assert requests.get(f"{http.url}/healthz", timeout=10).status_code == 200
    pid = server_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(lambda: requests.get(f"{http.url}/healthz", timeout=10).status_code == 503, timeout=40, interval=0.5,
                   what="the idle writer's look to find the directory hung")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: requests.get(f"{http.url}/healthz", timeout=10).status_code == 200, timeout=60, interval=0.5,
               what="health back")


@pytest.mark.parametrize("content,says", [(b"tok\n\n", "control character (U+000A)"), (b"tok en", "a space"),
                                          (b"tok\x00en", "control character (U+0000)"), (b"\n", "is empty")])
def test_a_token_no_client_can_present_is_refused_by_check_config(tmp_path, container, content, says):
    """Issue 21: a token file whose token cannot travel in a header fails check-config (64),
    and serve does not start with it."""
    token_file = tmp_path / "token"
    token_file.write_bytes(content)
    token_file.chmod(0o600)
    serve = Serve(tmp_path, container, bus=False, http=f"listen = 127.0.0.1:{free_port()}\ntoken_file = {token_file}\n")
    proc = serve.check_config()
    assert proc.returncode == 64 and says in proc.stderr, proc.stderr
    token_file.write_bytes(b"t0ken\n")  # one trailing newline is fine
    assert serve.check_config().returncode == 0


def test_the_frameworks_own_answers_are_problem_json_and_head_works(http, container):
    """Issue 21: a route that does not exist (404), a method a route does not take (405): serve's
    problem+json like every other refusal; HEAD of a GET route: its status, no body."""
    answer = requests.get(f"{http.url}/nope", timeout=10)
    assert answer.status_code == 404 and answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["type"].startswith("urn:nova-dirsvc:problem:") and answer.json()["status"] == 404
    answer = requests.put(f"{http.url}/healthz", timeout=10)
    assert answer.status_code in (404, 405) and answer.headers["Content-Type"] == "application/problem+json", answer.text
    answer = requests.head(f"{http.url}/healthz", timeout=10)
    assert answer.status_code == 200 and answer.content == b""
    unknown = str(uuidlib.uuid4())
    answer = requests.head(f"{http.url}/v1/instances/{unknown}", headers={"X-Auth-Token": TOKEN}, timeout=10)
    assert answer.status_code == 404 and answer.content == b""
    assert requests.head(f"{http.url}/v1/instances/{unknown}", timeout=10).status_code == 401


def test_idle_connections_never_exhaust_serves_file_descriptors(tmp_path, container):
    """Issue 21: under an open-file limit of 400 that serve cannot raise, 600 clients connect and
    say nothing. serve holds at most 144 of them (the limit less 256 for its own files; the rest
    wait in the kernel's accept queue), stays up, and answers as soon as they are gone. Before:
    every connection was accepted until descriptors ran out, and serve died (SIGILL: the Swift
    runtime's libdispatch traps when it cannot get one)."""
    import resource
    import socket
    import time
    port = free_port()
    serve = Serve(tmp_path, container, bus=False, timeout="2", http=f"listen = 127.0.0.1:{port}\n")
    serve.start(open_files=400)
    assert "(at most 144 connections)" in serve.output(), serve.output()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 4096), hard), hard))  # the test's own 600 sockets
    session = requests.Session()  # a keep-alive connection made before the flood
    assert session.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    held = []
    try:
        for _ in range(600):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))  # no waiting: a full accept queue drops the SYN
            held.append(client)
        time.sleep(3)
        assert serve.proc.poll() is None, serve.output()[-2000:]
        # meanwhile the client that got in is answered, and what it sends is written
        during = record()
        assert session.post(f"http://127.0.0.1:{port}/v1/instances", json=during, timeout=10).status_code == 201
        assert during["instance_uuid"] in managed(container)
    finally:
        for client in held:
            client.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200, timeout=60,
               interval=0.5, what="an answer once the idle clients are gone")
    r = record()
    created = requests.post(f"http://127.0.0.1:{port}/v1/instances", json=r, timeout=10)
    assert created.status_code == 201, created.text
    assert r["instance_uuid"] in managed(container)
    assert serve.proc.poll() is None
    assert serve.stop() == 0


def test_a_body_framed_with_transfer_encoding_identity_is_a_bad_request_not_too_large(http):
    """Issue 21: `Transfer-Encoding: identity` (not chunked, no length: the body runs to the end
    of the connection) with a small body was answered 413 "too large": any failure to read the
    body was taken for its size. It is a 400 that says so (RFC 9112: a request whose length is
    not known is refused); a body really over 1 MiB is still 413."""
    import socket
    port = int(http.url.rsplit(":", 1)[1])
    body = json.dumps(record()).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /v1/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"X-Auth-Token: {TOKEN}\r\nTransfer-Encoding: identity\r\n\r\n".encode() + body)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"application/problem+json" in head and json.loads(text)["field"] == "Transfer-Encoding", answer[:500]
    big = post(http, "/v1/instances", b"[" + b" " * (1 << 20) + b"]")
    assert big.status_code == 413
