"""Every form of the schema loads into a real server (issue 14): the 389-ds file form is what
the test directory starts with (scripts/directory.sh copies it into the schema folder), the
OpenLDAP form loads into slapd (test_openldap.py), and the 389-ds online form is loaded here
with ldapmodify into a fresh 389-ds started without it."""
import os
import subprocess
import uuid as uuidlib

from helpers import ROOT, free_port


def test_the_389ds_file_form_is_the_one_the_test_directory_runs():
    text = subprocess.run(["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-Q", "-Y", "EXTERNAL", "-H",
                           os.environ["NOVA_DIRSVC_TEST_LDAPI_URI"], "-b", "cn=schema", "-s", "base", "objectClasses"],
                          capture_output=True, text=True, check=True).stdout
    assert "NAME 'novaInstance'" in text and "X-ORIGIN 'nova-dirsvc'" in text


def test_the_389ds_online_form_loads_into_a_running_server(tmp_path):
    directory = tmp_path / "ds"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DS_")}
    env["DS_PASSWORD"] = uuidlib.uuid4().hex
    proc = subprocess.run([str(ROOT / "scripts/ds-start.sh"), str(directory), str(free_port())],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    ldapi = values["LDAPI_URI"]
    try:
        def ldap(tool, *args, input=None):
            return subprocess.run([tool, "-Q", "-Y", "EXTERNAL", "-H", ldapi, *args], input=input,
                                  capture_output=True, text=True)
        before = ldap("ldapsearch", "-LLL", "-b", "cn=schema", "-s", "base", "objectClasses").stdout
        assert "novaInstance" not in before
        online = (ROOT / "schema" / "nova-dirsvc.389ds-online.ldif").read_text()
        loaded = ldap("ldapmodify", input=online)
        assert loaded.returncode == 0, loaded.stderr
        # the server now takes an entry of the class
        uuid = str(uuidlib.uuid4())
        added = ldap("ldapadd", input=f"dn: cn={uuid},dc=example,dc=com\nobjectClass: top\nobjectClass: person\n"
                                      f"objectClass: novaInstance\ncn: {uuid}\nsn: {uuid}\nnovaInstanceUUID: {uuid}\n")
        assert added.returncode == 0, added.stderr
        found = ldap("ldapsearch", "-LLL", "-b", "dc=example,dc=com", f"(novaInstanceUUID={uuid})", "1.1").stdout
        assert f"cn={uuid}" in found
    finally:
        subprocess.run([str(ROOT / "scripts/ds-stop.sh"), str(directory), "--remove"], check=False)
