"""Kerberos (issue 21): a real MIT KDC (scripts/krb5-kdc.sh: realm EXAMPLE.TEST, krb5kdc on
loopback, principals and keytabs) and a 389-ds of its own that accepts GSSAPI
(scripts/krb5-directory.sh: ldap/HOST keytab, nsslapd-localhost, a SASL mapping of
nova-dirsvc/HOST to the service account). nova-dirsvc takes its credentials from a client
keytab (KRB5_CLIENT_KTNAME), as the units in examples/ do; ldapsearch as Directory Manager
judges what it wrote."""
import json
import os
import socket
import subprocess
import time
import uuid as uuidlib
from pathlib import Path

import pytest
import requests

from helpers import BIN, ROOT, free_port, record
from serve_helpers import wait_until

HOST = socket.gethostname()


class Realm:
    """The KDC and the GSSAPI directory, for the module."""

    def __init__(self, folder):
        self.folder = folder
        self.kdc_dir = folder / "kdc"
        out = subprocess.run([str(ROOT / "scripts/krb5-kdc.sh"), str(self.kdc_dir), str(free_port())],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        self.kdc = dict(line.split("=", 1) for line in out.stdout.split())
        self.dir = folder / "dir"
        out = subprocess.run([str(ROOT / "scripts/krb5-directory.sh"), str(self.dir), str(free_port()), str(free_port()),
                              str(self.kdc_dir)], capture_output=True, text=True, env=dict(os.environ, **self.kdc))
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        # the env file directory.sh writes: NAME=value, values with spaces in single quotes
        self.env = {k: v.strip("'") for k, v in (line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)}
        self.port = self.env["NOVA_DIRSVC_TEST_DS_PORT"]
        self.uri = f"ldap://{HOST}:{self.port}"
        self.base = self.env["NOVA_DIRSVC_TEST_BASE_DN"]

    def client_env(self, tmp_path, keytab="nova-dirsvc-long.keytab", cache=None, **extra):
        """The environment of a nova-dirsvc that authenticates with `keytab` (no NOVA_DIRSVC_*)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOVA_DIRSVC_", "KRB5"))}
        env.update(KRB5_CONFIG=self.kdc["KRB5_CONFIG"],
                   KRB5_CLIENT_KTNAME=keytab if keytab.startswith("/") else str(self.kdc_dir / keytab),
                   KRB5CCNAME=cache or f"FILE:{tmp_path}/ccache-{uuidlib.uuid4().hex[:6]}")
        env.update(extra)
        return env

    def tool(self, tmp_path, *args, env, input=None):
        return subprocess.run([BIN, *args, "--uri", self.uri, "--sasl-mech", "GSSAPI", "--base-dn", self.base,
                               "--spool-dir", str(tmp_path / "spool"), "--log-file", str(tmp_path / "events.log"),
                               "--timeout", "5"], input=input, capture_output=True, text=True, env=env)

    def entries(self):
        out = subprocess.run(["ldapsearch", "-LLL", "-x", "-H", f"ldap://127.0.0.1:{self.port}", "-D", "cn=Directory Manager",
                              "-y", self.env["NOVA_DIRSVC_TEST_ADMIN_PASSWORD_FILE"], "-b", self.base, "-s", "one",
                              "(objectClass=novaInstance)", "novaInstanceUUID", "creatorsName"],
                             capture_output=True, text=True, check=True).stdout
        found = {}
        for block in out.strip().split("\n\n"):
            attrs = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "novaInstanceUUID" in attrs:
                found[attrs["novaInstanceUUID"]] = attrs.get("creatorsName", "")
        return found

    def restart_directory(self):
        ds = self.env["NOVA_DIRSVC_TEST_DS_DIR"]
        subprocess.run([str(ROOT / "scripts/ds-stop.sh"), ds], check=True, capture_output=True)
        out = subprocess.run([str(ROOT / "scripts/ds-start.sh"), ds, self.port], capture_output=True, text=True,
                             env=dict(os.environ, KRB5_CONFIG=self.kdc["KRB5_CONFIG"],
                                      KRB5_KTNAME=f"FILE:{self.kdc_dir}/ldap.keytab",
                                      DS_TLS_PORT=self.env["NOVA_DIRSVC_TEST_DS_TLS_PORT"]))
        assert out.returncode == 0, out.stderr

    def stop(self):
        subprocess.run([str(ROOT / "scripts/directory.sh"), "stop", str(self.dir)], capture_output=True)
        if "KDC_PID" in self.kdc:
            subprocess.run(["kill", self.kdc["KDC_PID"]], capture_output=True)


@pytest.fixture(scope="module")
def realm(tmp_path_factory):
    realm = Realm(tmp_path_factory.mktemp("kerberos"))
    yield realm
    realm.stop()


def test_register_and_unregister_with_gssapi_from_a_client_keytab(realm, tmp_path):
    """No password anywhere: the principal nova-dirsvc-long/HOST from its keytab, mapped to the
    service account by 389-ds's SASL mapping; over ldap:// the GSSAPI security layer protects
    the bind and the writes (the default minimum strength, 56, is met)."""
    env = realm.client_env(tmp_path)
    r = record()
    proc = realm.tool(tmp_path, "register", "--event", "-", env=env, input=json.dumps(r))
    assert proc.returncode == 0, proc.stderr
    assert realm.entries()[r["instance_uuid"]].lower() == "uid=nova-dirsvc,ou=services," + realm.env["NOVA_DIRSVC_TEST_SUFFIX"].lower()
    proc = realm.tool(tmp_path, "check-config", env=env)
    assert proc.returncode == 0 and "uid=nova-dirsvc" in proc.stdout, proc.stderr
    proc = realm.tool(tmp_path, "unregister", "--instance-uuid", r["instance_uuid"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert r["instance_uuid"] not in realm.entries()


def wrong_spn_config(realm, tmp_path):
    """A krb5.conf that puts the directory's host in a realm no KDC serves: the service
    principal the client asks for (ldap/HOST@NOWHERE.TEST) cannot be found."""
    text = Path(realm.kdc["KRB5_CONFIG"]).read_text().replace(f"    {HOST} = EXAMPLE.TEST", f"    {HOST} = NOWHERE.TEST")
    path = tmp_path / "krb5-wrong-spn.conf"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case", ["missing keytab", "principal unknown to the KDC", "credential cache not writable",
                                  "service principal in a realm without a KDC"])
def test_kerberos_failures_on_this_side_are_the_callers_never_directory_down(realm, tmp_path, case):
    """Before: libldap's localError (-2), taken for "directory down": register queued and exited
    75 (for ever: the keytab does not come back by itself), check-config exited 1. Now 77 with
    the keytab, its principal and the cache named; the event is queued (nothing is lost) and
    the operator is told to fix the cause."""
    env = {
        "missing keytab": realm.client_env(tmp_path, keytab=str(tmp_path / "nova-dirsvc.keytab")),
        "principal unknown to the KDC": realm.client_env(tmp_path, keytab="ghost.keytab"),
        "credential cache not writable": realm.client_env(tmp_path, cache="FILE:/proc/no-such-folder/ccache"),
        "service principal in a realm without a KDC": None,
    }[case] or realm.client_env(tmp_path, KRB5_CONFIG=wrong_spn_config(realm, tmp_path))
    r = record()
    proc = realm.tool(tmp_path, "register", "--event", "-", env=env, input=json.dumps(r))
    assert proc.returncode == 77, proc.stderr
    assert "SASL GSSAPI bind failed on this side" in proc.stderr and f"client keytab {env['KRB5_CLIENT_KTNAME']}" in proc.stderr
    assert f"credential cache {env['KRB5CCNAME']}" in proc.stderr
    if case == "principal unknown to the KDC":
        assert f"principal ghost/{HOST}@EXAMPLE.TEST" in proc.stderr and "not found in Kerberos database" in proc.stderr
    assert "queued" in proc.stderr and r["instance_uuid"] not in realm.entries()
    proc = realm.tool(tmp_path, "check-config", env=env)
    assert proc.returncode == 77, proc.stderr


def test_gssapi_without_a_security_layer_is_refused_unless_allowed(realm, tmp_path):
    """A client whose SASL properties allow no security layer (LDAPSASL_SECPROPS=maxssf=0, as
    some sites set for another directory) would bind and write in clear over ldap://: refused
    by default (sasl_ssf_min 56), allowed only when the operator lowers sasl_ssf_min to 0."""
    env = realm.client_env(tmp_path, LDAPSASL_SECPROPS="maxssf=0")
    r = record()
    proc = realm.tool(tmp_path, "register", "--event", "-", env=env, input=json.dumps(r))
    assert proc.returncode == 77 and "minimum strength 56 (sasl_ssf_min)" in proc.stderr, proc.stderr
    assert r["instance_uuid"] not in realm.entries()
    proc = realm.tool(tmp_path, "flush", "--sasl-ssf-min", "0", env=env)
    assert proc.returncode == 0, proc.stderr
    assert r["instance_uuid"] in realm.entries()


def test_serve_gets_a_new_ticket_from_its_keytab_when_the_old_one_expired(realm, tmp_path):
    """serve binds with nova-dirsvc/HOST, whose tickets live 2 minutes. The directory restarts
    after the ticket expired: serve's next bind needs a new ticket, which it gets from its
    keytab by itself (KRB5_CLIENT_KTNAME, nothing to renew by hand), and the event is applied."""
    port = free_port()
    config = tmp_path / "serve.conf"
    config.write_text(f"[ldap]\nuri = {realm.uri}\nsasl_mech = GSSAPI\nbase_dn = {realm.base}\ntimeout = 5\n"
                      f"log_file = {tmp_path}/events.log\nspool_dir = {tmp_path}/spool\n[http]\nlisten = 127.0.0.1:{port}\n")
    config.chmod(0o600)
    env = realm.client_env(tmp_path, keytab="nova-dirsvc.keytab")
    stderr = open(tmp_path / "serve.stderr", "wb")
    serve = subprocess.Popen([BIN, "serve", "--config", str(config)], stderr=stderr, env=env)
    url = f"http://127.0.0.1:{port}/v1/instances"
    try:
        wait_until(lambda: "http: listening" in (tmp_path / "serve.stderr").read_text(), what="serve")
        first, second = record(), record()
        assert requests.post(url, json=first, timeout=10).status_code == 201
        time.sleep(125)  # past the ticket's 2 minutes
        realm.restart_directory()
        wait_until(lambda: requests.post(url, json=second, timeout=15).status_code in (200, 201), timeout=60, interval=1,
                   what="a register after the ticket expired")
        assert {first["instance_uuid"], second["instance_uuid"]} <= set(realm.entries())
        assert serve.poll() is None
    finally:
        serve.terminate()
        serve.wait(timeout=15)
    assert "SASL GSSAPI bind failed" not in (tmp_path / "serve.stderr").read_text()


def test_only_the_supported_mechanisms_and_a_warning_for_unused_credentials(tmp_path):
    """sasl_mech takes EXTERNAL or GSSAPI (what is built and tested); another (PLAIN, a typo) is
    a settings error naming the choices, not a bind failure at the first event. A bind DN or
    password file given with a SASL mechanism is not used, and the warning says so."""
    def run(*args):
        return subprocess.run([BIN, "check-config", "--uri", "ldap://127.0.0.1:1", "--base-dn", "dc=example,dc=com",
                               "--timeout", "1", "--spool-dir", str(tmp_path / "spool"), *args],
                              capture_output=True, text=True)
    proc = run("--sasl-mech", "PLAIN")
    assert proc.returncode == 64 and '--sasl-mech: "PLAIN" is not EXTERNAL or GSSAPI' in proc.stderr, proc.stderr
    proc = run("--sasl-mech", "gssapi", "--bind-dn", "cn=someone")
    assert "warning:" in proc.stderr and "--bind-dn not used (the identity is the Kerberos principal)" in proc.stderr, proc.stderr
    proc = run("--sasl-mech", "GSSAPI", "--sasl-ssf-min", "300")
    assert proc.returncode == 64 and '--sasl-ssf-min: "300" is not a whole number from 0 to 256' in proc.stderr, proc.stderr
