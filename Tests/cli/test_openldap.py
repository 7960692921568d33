"""The same schema and the same tool on OpenLDAP's slapd (a throwaway one per test module,
started with scripts/slapd-start.sh on loopback): schema/nova-dirsvc.openldap.ldif loads both
at start-up and online, and register / reconcile / unregister work against it."""
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import BIN, free_port, parse_ldif, record, ROOT

SCHEMA = ROOT / "schema" / "nova-dirsvc.openldap.ldif"
SUFFIX = "dc=example,dc=com"

pytestmark = pytest.mark.skipif(shutil.which("slapd") is None and not Path("/usr/sbin/slapd").exists(),
                                reason="slapd is not installed (scripts/install-deps.sh installs it)")


class Slapd:
    def __init__(self, directory, schema):
        self.dir = directory
        self.password = secrets.token_hex(12)
        env = dict(os.environ, SLAPD_PASSWORD=self.password, SLAPD_SCHEMA=" ".join(schema))
        proc = subprocess.run([str(ROOT / "scripts/slapd-start.sh"), str(directory), str(free_port())],
                              capture_output=True, text=True, env=env, check=True)
        values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        self.uri, self.ldapi = values["LDAP_URI"], values["LDAPI_URI"]
        self.root_dn = values["LDAP_BINDDN"].strip("'")
        self.password_file = directory / "root.pw"
        self.password_file.write_text(self.password)
        self.password_file.chmod(0o600)

    def ldap(self, tool, *args, input=None):
        proc = subprocess.run([tool, "-Q", "-Y", "EXTERNAL", "-H", self.ldapi, *args], input=input,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def stop(self):
        subprocess.run([str(ROOT / "scripts/slapd-stop.sh"), str(self.dir), "--remove"], check=False)


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    server = Slapd(tmp_path_factory.mktemp("slapd"), [str(SCHEMA)])
    server.ldap("ldapadd", input=f"dn: ou=Instances,{SUFFIX}\nobjectClass: organizationalUnit\nou: Instances\n")
    yield server
    server.stop()


def test_schema_loads_at_start_up(slapd):
    text = slapd.ldap("ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-b", "cn=schema,cn=config",
                      "(olcObjectClasses=*novaInstance*)", "olcObjectClasses")
    assert "NAME 'novaInstance'" in text and "AUXILIARY MUST novaInstanceUUID" in text


def test_schema_loads_online(tmp_path):
    server = Slapd(tmp_path / "online", [])
    try:
        server.ldap("ldapadd", "-f", str(SCHEMA))
        u = record()["instance_uuid"]
        server.ldap("ldapadd", input=f"dn: cn={u},{SUFFIX}\nobjectClass: inetOrgPerson\nobjectClass: novaInstance\n"
                                     f"cn: {u}\nsn: {u}\nnovaInstanceUUID: {u}\n")
    finally:
        server.stop()


def test_register_reconcile_unregister_on_openldap(slapd, tmp_path):
    base = f"ou=Instances,{SUFFIX}"
    args = ["--uri", slapd.uri, "--bind-dn", slapd.root_dn, "--password-file", str(slapd.password_file),
            "--base-dn", base, "--log-file", str(tmp_path / "events.log"), "--spool-dir", str(tmp_path / "spool")]
    r = record(project_name="a,b=c+d", ip_addresses=["10.0.0.5"])
    proc = subprocess.run([BIN, "register", "--event", "-", *args], input=json.dumps(r), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    found = parse_ldif(slapd.ldap("ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-b", base, "(objectClass=novaInstance)"))
    entry = found[f"cn={r['instance_uuid']},{base}".lower()]
    assert set(entry["objectclass"]) == {"top", "person", "organizationalPerson", "inetOrgPerson", "ieee802Device", "novaInstance"}
    assert entry["novaprojectname"] == ["a,b=c+d"] and entry["macaddress"] == ["fa:16:3e:56:50:29"]
    assert entry["novaipaddress"] == ["10.0.0.5"]
    check = subprocess.run([BIN, "reconcile", "--check", "--instances", "-", *args], input=json.dumps([r]),
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.run([BIN, "unregister", "--instance-uuid", r["instance_uuid"], *args], capture_output=True, text=True)
    assert proc.returncode == 0 and "deleted" in proc.stdout, proc.stderr
    # OpenLDAP answers noSuchObject (32) for a base search on an entry that is not there
    # (389-ds answers "success, nothing"): both mean "absent", the base DN being there
    proc = subprocess.run([BIN, "unregister", "--instance-uuid", r["instance_uuid"], *args], capture_output=True, text=True)
    assert proc.returncode == 0 and "absent" in proc.stdout, proc.stderr
    missing = [a if a != base else f"ou=nowhere,{SUFFIX}" for a in args]
    proc = subprocess.run([BIN, "unregister", "--instance-uuid", r["instance_uuid"], *missing], capture_output=True, text=True)
    assert proc.returncode == 64 and "does not exist" in proc.stderr, proc.stderr


def test_a_server_without_the_schema_keeps_every_event_queued(tmp_path):
    # A server whose schema is not nova-dirsvc's refuses the entry's shape (slapd:
    # invalidAttributeSyntax on objectClass). That is the server's setup, not the events':
    # queued events stay queued (they were moved to failed/), the new one joins them, exit 64.
    server = Slapd(tmp_path / "slapd", [])
    try:
        server.ldap("ldapadd", input=f"dn: ou=Instances,{SUFFIX}\nobjectClass: organizationalUnit\nou: Instances\n")
        spool = tmp_path / "spool"
        args = ["--bind-dn", server.root_dn, "--password-file", str(server.password_file), "--base-dn",
                f"ou=Instances,{SUFFIX}", "--log-file", str(tmp_path / "events.log"), "--spool-dir", str(spool)]
        down = subprocess.run([BIN, "register", "--event", "-", "--uri", f"ldap://127.0.0.1:{free_port()}", *args],
                              input=json.dumps(record()), capture_output=True, text=True)
        assert down.returncode == 75, down.stderr
        proc = subprocess.run([BIN, "register", "--event", "-", "--uri", server.uri, *args],
                              input=json.dumps(record()), capture_output=True, text=True)
        assert proc.returncode == 64, proc.stderr
        assert "invalidAttributeSyntax" in proc.stderr and "queued" in proc.stderr
        assert len(list(spool.glob("*.event"))) == 2
        assert not (spool / "failed").exists() or not list((spool / "failed").iterdir())
    finally:
        server.stop()
