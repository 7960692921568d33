"""`reconcile --from-nova` (issue 20) against a real Keystone and a real nova-api (the `keystone`
and `nova` packages from PyPI, on SQLite, under gunicorn: openstack_cloud.py), with servers put
into Nova's databases by Nova's own objects: several projects, more than one page (Nova's
max_limit is 5 here), a deleted server, a server with no ports. ldapsearch judges the directory.
The account is the README's read-only one: a user with the reader role and a role of its own that
a policy override lets list every project's servers (not admin)."""
import json
import os
import threading
import uuid as uuidlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from helpers import free_port, managed, record
from openstack_cloud import Cloud

# The README's policy override for the read-only account ("A read-only Nova account").
POLICY = """\
"os_compute_api:servers:detail:get_all_tenants": "role:admin or role:nova-dirsvc-reader"
"os_compute_api:servers:index:get_all_tenants": "role:admin or role:nova-dirsvc-reader"
"os_compute_api:os-extended-server-attributes": "role:admin or role:nova-dirsvc-reader"
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    cloud = Cloud(tmp_path_factory.mktemp("cloud"), max_limit=5, policy=POLICY)
    try:
        cloud.start()
        cloud.reader = cloud.account("nova-dirsvc", ["reader", "nova-dirsvc-reader"])
        cloud.member = cloud.account("someone", ["member"], project="alpha")
        yield cloud
    finally:
        cloud.stop()


def spec(project_id, index, ports=True):
    return {"uuid": str(uuidlib.uuid4()), "project_id": project_id, "user_id": "u-" + project_id[:8], "hostname": f"hôte-{index}",
            "image": "035c2bc7-f2be-4607-afcf-c3b6237e9fe5",
            "ports": [{"mac": f"fa:16:3e:00:{index // 256:02x}:{index % 256:02x}", "ips": [f"10.0.{index // 200}.{index % 200 + 10}"]}]
            if ports else []}


def nova_section(cloud, account, **extra):
    lines = {"auth_url": cloud.auth_url, "auth_type": "v3applicationcredential",
             "application_credential_id": account["id"], "application_credential_secret": account["secret"],
             "region_name": "RegionOne", "interface": "public", **extra}
    return "[nova]\n" + "".join(f"{k} = {v}\n" for k, v in lines.items() if v is not None)


def reconcile(tool, tmp_path, cloud, account, *args, **extra):
    config = tmp_path / "nova-dirsvc.conf"
    config.write_text(nova_section(cloud, account, **extra))
    config.chmod(0o600)
    return tool.run("reconcile", "--from-nova", "--config", str(config), *args)


def test_every_project_every_page_deleted_and_portless_servers(cloud, tool, container, tmp_path):
    alpha, beta, gamma = (cloud.project_id(name) for name in ("alpha", "beta", "gamma"))
    servers = [spec(alpha, i) for i in range(6)] + [spec(beta, 6 + i) for i in range(6)] + [spec(gamma, 12)]
    portless = spec(gamma, 13, ports=False)
    gone = spec(beta, 14)
    cloud.servers("create", servers + [portless, gone])
    cloud.servers("delete", [gone])
    # the directory before: a stale entry, an entry of the deleted server, one with old values
    stale, changed = record(), dict(record(servers[0]["uuid"]), mac_address="fa:16:3e:ff:ff:ff")
    for r in (stale, record(gone["uuid"]), changed):
        assert tool.run("register", "--event", "-", input=json.dumps(r)).returncode == 0
    proc = reconcile(tool, tmp_path, cloud, cloud.reader, "--grace", "0", "--max-delete-ratio", "1")
    assert proc.returncode == 0, proc.stderr
    assert "15 live servers" not in proc.stderr and "14 live servers" in proc.stderr, proc.stderr
    entries = managed(container)
    live = {s["uuid"] for s in servers} | {portless["uuid"]}
    assert set(entries) == live  # the stale and the deleted server's entries went; every page came
    first = entries[servers[0]["uuid"]]
    assert first["macaddress"] == [servers[0]["ports"][0]["mac"]] and first["novahostname"] == ["hôte-0"]
    assert first["novaprojectid"] == [alpha.replace("-", "")] or first["novaprojectid"] == [alpha]
    assert "macaddress" not in entries[portless["uuid"]]
    assert tool.run("reconcile", "--from-nova", "--config", str(tmp_path / "nova-dirsvc.conf"), "--check").returncode == 0


def test_wrong_credentials_77_and_a_member_without_the_policy_77_nothing_changed(cloud, tool, container, tmp_path):
    kept = record()
    assert tool.run("register", "--event", "-", input=json.dumps(kept)).returncode == 0
    wrong = dict(cloud.reader, secret="not-the-secret")
    proc = reconcile(tool, tmp_path, cloud, wrong, "--grace", "0")
    assert proc.returncode == 77 and "refused the credentials" in proc.stderr, proc.stderr
    assert "not-the-secret" not in proc.stderr + proc.stdout
    proc = reconcile(tool, tmp_path, cloud, cloud.member, "--grace", "0")  # a project member: Nova says 403
    assert proc.returncode == 77 and "403" in proc.stderr and "get_all_tenants" in proc.stderr, proc.stderr
    assert kept["instance_uuid"] in managed(container)


def test_password_auth_as_in_nova_conf_keystone_authtoken(cloud, tool, container, tmp_path):
    cloud.servers("create", [spec(cloud.project_id("alpha"), 50)])
    secret = tmp_path / "nova-password"
    secret.write_text(cloud.reader["password"])
    secret.chmod(0o600)
    proc = reconcile(tool, tmp_path, cloud, cloud.reader, "--dry-run", "--format", "json", auth_type="password",
                     application_credential_id=None, application_credential_secret=None, username="nova-dirsvc",
                     user_domain_name="Default", password_file=str(secret), project_name="service",
                     project_domain_name="Default")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)  # the plan, from every server of every project


def test_keystone_or_nova_down_69_nothing_deleted(cloud, tool, container, tmp_path):
    kept = record()
    assert tool.run("register", "--event", "-", input=json.dumps(kept)).returncode == 0
    dead = f"http://127.0.0.1:{free_port()}/v3"  # nothing listens (keystone_port + 1 may be anybody's)
    proc = reconcile(tool, tmp_path, cloud, cloud.reader, "--grace", "0", auth_url=dead)
    assert proc.returncode == 69, proc.stderr
    cloud.stop("nova")
    try:
        proc = reconcile(tool, tmp_path, cloud, cloud.reader, "--grace", "0")
        assert proc.returncode == 69 and "Nova" in proc.stderr, proc.stderr
    finally:
        cloud.serve("nova")
    assert kept["instance_uuid"] in managed(container)


class FailingSecondPage:
    """Between the client and nova-api: forwards, but answers 500 to the second page."""

    def __init__(self, target):
        outer = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                if "marker=" in self.path:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = requests.get(target + self.path[len("/v2.1"):] if self.path.startswith("/v2.1") else target + self.path,
                                      headers={k: v for k, v in self.headers.items() if k.lower() != "host"}, timeout=60)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2.1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_page_that_fails_midway_changes_nothing(cloud, tool, container, tmp_path):
    kept = record()
    assert tool.run("register", "--event", "-", input=json.dumps(kept)).returncode == 0
    proxy = FailingSecondPage(cloud.compute_url)
    cloud.catalog(compute_url=proxy.url)
    try:
        proc = reconcile(tool, tmp_path, cloud, cloud.reader, "--grace", "0")
    finally:
        cloud.catalog()
        proxy.server.shutdown()
    assert proc.returncode == 69 and "500" in proc.stderr, proc.stderr
    assert proxy.requests >= 2  # the first page came, the second failed
    assert kept["instance_uuid"] in managed(container)


def test_settings_are_checked_and_secrets_stay_off_the_command_line(cloud, tool, tmp_path):
    config = tmp_path / "open.conf"
    config.write_text(nova_section(cloud, cloud.reader))
    config.chmod(0o644)
    proc = tool.run("reconcile", "--from-nova", "--config", str(config))
    assert proc.returncode == 64 and "application_credential_secret" in proc.stderr and "readable" in proc.stderr, proc.stderr
    config.write_text("[nova]\nauth_url = " + cloud.auth_url + "\nauth_type = token\n")
    config.chmod(0o600)
    proc = tool.run("reconcile", "--from-nova", "--config", str(config))
    assert proc.returncode == 64 and "auth_type" in proc.stderr and "v3applicationcredential" in proc.stderr, proc.stderr
    proc = tool.run("reconcile", "--from-nova", "--instances", "-", "--config", str(config))
    assert proc.returncode == 64 and "either --instances or --from-nova" in proc.stderr


def test_serve_reconciles_on_its_schedule_one_serve_per_round(cloud, tool, container, tmp_path):
    """Issue 20: `[nova] reconcile_interval`: two serves of one directory heal drift by
    themselves (a server Nova has and the directory lacks is added, an entry Nova does not know
    goes), one serve per round (the lease in the directory), each round in the event log and in
    /metrics."""
    import time
    from helpers import free_port
    from serve_helpers import Serve, wait_until
    # the directory's starting point: enough entries that one deletion is within the 10% guard
    cloud.servers("create", [spec(cloud.project_id("delta"), 100 + i) for i in range(12)])
    assert reconcile(tool, tmp_path, cloud, cloud.reader, "--grace", "0", "--allow-mass-delete").returncode == 0
    stale = record()
    assert tool.run("register", "--event", "-", input=json.dumps(stale)).returncode == 0
    missing = spec(cloud.project_id("delta"), 80)
    cloud.servers("create", [missing])
    serves = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        port = free_port()
        serve = Serve(tmp_path / name, container, bus=False, name=name, http=f"listen = 127.0.0.1:{port}\n")
        serve.url = f"http://127.0.0.1:{port}"
        serve.config.write_text(serve.config.read_text() + nova_section(cloud, cloud.reader, reconcile_interval=2, reconcile_grace=0))
        serves.append(serve.start())
    try:
        wait_until(lambda: missing["uuid"] in managed(container) and stale["instance_uuid"] not in managed(container),
                   timeout=90, interval=0.5, what="the drift healed by a scheduled round")
        time.sleep(4.5)  # a few more rounds
        metrics = requests.get(serves[0].url + "/metrics", timeout=10).text + requests.get(serves[1].url + "/metrics", timeout=10).text
    finally:
        for serve in serves:
            assert serve.stop() == 0
    rounds = [json.loads(line) for serve in serves for line in serve.log_file.read_text().splitlines()
              if json.loads(line).get("action") == "reconcile"]
    done = [line for line in rounds if line["outcome"] == "done"]
    elsewhere = [line for line in rounds if line["outcome"] == "claimed-elsewhere"]
    assert done and elsewhere, rounds
    # one serve per round: each round done was claimed (in the directory) until a time at least
    # 0.9 of an interval after the round before it's
    from datetime import datetime
    import re
    claims = sorted(datetime.fromisoformat(re.search(r"claimed until (\S+);", line["detail"]).group(1).replace("Z", "+00:00")).timestamp()
                    for line in rounds if line["outcome"] == "done")
    assert all(b - a >= 1.8 for a, b in zip(claims, claims[1:])), claims
    assert 'nova_dirsvc_reconcile_runs_total{outcome="done"}' in metrics
