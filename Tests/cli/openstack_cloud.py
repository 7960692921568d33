"""A real, small OpenStack for `reconcile --from-nova`: Keystone and nova-api from PyPI (the
`keystone` and `nova` packages of Tests/requirements.txt) on SQLite, each served by gunicorn on
127.0.0.1, all state in one folder. Servers are put into Nova's databases with Nova's own objects
(Tests/cli/nova_servers.py), as nova-api and nova-compute leave them; the API lists them as it
would in production. About 40 s to start here.

Neutron is not run: nova-api asks it only for the listed servers' security groups (a field
nova-dirsvc does not read), which a stand-in (`NeutronStandIn`) answers with none.

Pitfalls met on the way: oslo.config parses gunicorn's argv (the app factories below clear it);
nova-api reads its paste pipeline from the first config file (api-paste.ini, then nova.conf);
always give curl/requests a timeout (a worker that fails to boot leaves the port open)."""
import json
import os
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from helpers import free_port

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "adm1n-" + uuidlib.uuid4().hex[:12]


def keystone_app():
    """gunicorn's app factory for Keystone (oslo.config must not see gunicorn's argv)."""
    sys.argv = sys.argv[:1]
    from keystone.wsgi.api import application
    return application


def nova_app():
    """gunicorn's app factory for nova-api (OS_NOVA_CONFIG_DIR/FILES name its configuration)."""
    sys.argv = sys.argv[:1]
    from nova.wsgi.osapi_compute import application
    return application


class NeutronStandIn:
    """Answers nova-api's questions to Neutron about security groups (GET /v2.0/ports,
    /v2.0/security-groups): none."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                collection = self.path.split("?")[0].rstrip("/").split("/")[-1].replace("-", "_")
                body = json.dumps({collection: []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


class Cloud:
    def __init__(self, folder, max_limit=5, policy=None):
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.keystone_port, self.nova_port = free_port(), free_port()
        self.auth_url = f"http://127.0.0.1:{self.keystone_port}/v3"
        self.compute_url = f"http://127.0.0.1:{self.nova_port}/v2.1"
        self.max_limit = max_limit
        self.policy = policy
        self.procs = {}

    # --- start and stop

    def start(self):
        self._keystone()
        self._nova()
        self.neutron = NeutronStandIn()
        self.serve("keystone")
        self.serve("nova")
        self.catalog()
        return self

    def run(self, *argv, **kwargs):
        proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=self.dir, **kwargs)
        assert proc.returncode == 0, f"{argv[:3]}: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
        return proc

    def _keystone(self):
        d = self.dir / "keystone"
        d.mkdir(exist_ok=True)
        (d / "keystone.conf").write_text(
            f"[database]\nconnection = sqlite:///{d}/keystone.db\n[token]\nprovider = fernet\n"
            f"[fernet_tokens]\nkey_repository = {d}/fernet-keys\n[fernet_receipts]\nkey_repository = {d}/fernet-keys\n"
            f"[credential]\nkey_repository = {d}/credential-keys\n")
        manage = [VENV_BIN / "keystone-manage", "--config-file", d / "keystone.conf"]
        self.run(*manage, "db_sync")
        self.run(*manage, "fernet_setup", "--keystone-user", "root", "--keystone-group", "root")
        self.run(*manage, "credential_setup", "--keystone-user", "root", "--keystone-group", "root")
        self.run(*manage, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD, "--bootstrap-region-id", "RegionOne",
                 *[x for i in ("admin", "public", "internal") for x in (f"--bootstrap-{i}-url", self.auth_url)])

    def _nova(self):
        d = self.dir / "nova"
        d.mkdir(exist_ok=True)
        paste = next(p for p in [VENV_BIN.parent / "etc/nova/api-paste.ini"] if p.exists())
        (d / "api-paste.ini").write_text(paste.read_text())
        policy = f"[oslo_policy]\npolicy_file = {d}/policy.yaml\n" if self.policy else ""
        if self.policy:
            (d / "policy.yaml").write_text(self.policy)
        (d / "nova.conf").write_text(
            "[DEFAULT]\ntransport_url = fake:/\n"
            f"[api]\nauth_strategy = keystone\nmax_limit = {self.max_limit}\n"
            f"[api_database]\nconnection = sqlite:///{d}/nova_api.db\n[database]\nconnection = sqlite:///{d}/nova.db\n"
            f"[keystone_authtoken]\nwww_authenticate_uri = {self.auth_url}\nauth_url = {self.auth_url}\nauth_type = password\n"
            f"username = admin\npassword = {ADMIN_PASSWORD}\nuser_domain_name = Default\nproject_name = admin\n"
            f"project_domain_name = Default\n[wsgi]\napi_paste_config = {d}/api-paste.ini\n"
            f"[oslo_concurrency]\nlock_path = {d}/locks\n{policy}")
        manage = [VENV_BIN / "nova-manage", "--config-file", d / "nova.conf"]
        self.run(*manage, "api_db", "sync")
        self.run(*manage, "cell_v2", "map_cell0", "--database_connection", f"sqlite:///{d}/nova_cell0.db")
        self.run(*manage, "db", "sync")
        self.run(*manage, "cell_v2", "create_cell", "--name", "cell1", "--database_connection", f"sqlite:///{d}/nova.db",
                 "--transport-url", "fake:/")

    def serve(self, name):
        port = self.keystone_port if name == "keystone" else self.nova_port
        env = dict(os.environ, PYTHONPATH=str(HERE))
        if name == "keystone":
            env["OS_KEYSTONE_CONFIG_FILES"] = str(self.dir / "keystone/keystone.conf")
        else:
            env.update(OS_NOVA_CONFIG_DIR=str(self.dir / "nova"), OS_NOVA_CONFIG_FILES="api-paste.ini;nova.conf")
        log = open(self.dir / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [VENV_BIN / "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4", "--timeout", "120",
             f"openstack_cloud:{name}_app()"], stdout=log, stderr=log, env=env, cwd=self.dir)
        url = self.auth_url if name == "keystone" else f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 90
        while True:
            assert self.procs[name].poll() is None, (self.dir / f"{name}.log").read_text()[-3000:]
            try:
                if requests.get(url, timeout=5).status_code < 500:
                    return
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"{name} did not answer: " + (self.dir / f"{name}.log").read_text()[-3000:]
            time.sleep(0.3)

    def stop(self, name=None):
        if name is None and getattr(self, "neutron", None):
            self.neutron.stop()
        for key in ([name] if name else list(self.procs)):
            proc = self.procs.pop(key, None)
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    # --- Keystone's side, with keystoneauth (what OpenStack services use)

    def admin(self):
        from keystoneauth1 import session
        from keystoneauth1.identity import v3
        from keystoneclient.v3 import client
        auth = v3.Password(auth_url=self.auth_url, username="admin", password=ADMIN_PASSWORD, project_name="admin",
                           user_domain_id="default", project_domain_id="default")
        return client.Client(session=session.Session(auth=auth))

    def catalog(self, compute_url=None):
        """Nova's service and endpoints in Keystone's catalog (again: pointing at `compute_url`)."""
        ks = self.admin()
        for kind, name, url in (("compute", "nova", compute_url or self.compute_url), ("network", "neutron", self.neutron.url)):
            for service in ks.services.list(type=kind):
                ks.services.delete(service)
            service = ks.services.create(name=name, type=kind)
            for interface in ("public", "internal", "admin"):
                ks.endpoints.create(service=service, url=url, interface=interface, region="RegionOne")

    def account(self, name, roles, project="service"):
        """A user with `roles` on `project` (made if need be), and an application credential of
        it: (user id, credential id, credential secret)."""
        ks = self.admin()
        projects = {p.name: p for p in ks.projects.list()}
        target = projects.get(project) or ks.projects.create(project, domain="default")
        password = "pw-" + uuidlib.uuid4().hex
        user = ks.users.create(name, domain="default", password=password, default_project=target)
        existing = {r.name: r for r in ks.roles.list()}
        for role in roles:
            ks.roles.grant(existing.get(role) or ks.roles.create(role), user=user, project=target)
        from keystoneauth1 import session
        from keystoneauth1.identity import v3
        own = session.Session(auth=v3.Password(auth_url=self.auth_url, username=name, password=password, user_domain_id="default",
                                               project_name=project, project_domain_id="default"))
        answer = own.post(f"{self.auth_url}/users/{user.id}/application_credentials",
                          json={"application_credential": {"name": f"{name}-nova-dirsvc"}}, raise_exc=False)
        assert answer.status_code == 201, answer.text
        credential = answer.json()["application_credential"]
        return {"user_id": user.id, "password": password, "project": project, "id": credential["id"], "secret": credential["secret"]}

    def project_id(self, name):
        ks = self.admin()
        found = [p for p in ks.projects.list() if p.name == name]
        return found[0].id if found else ks.projects.create(name, domain="default").id

    # --- Nova's side, with Nova's own objects

    def servers(self, action, specs):
        """`create` or `delete` servers (see nova_servers.py for a spec's keys)."""
        proc = subprocess.run([sys.executable, str(HERE / "nova_servers.py"), str(self.dir / "nova/nova.conf"), action],
                              input=json.dumps(specs), capture_output=True, text=True, cwd=self.dir)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout)
