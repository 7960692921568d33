"""What the end-to-end tests share: the test directory's settings (from NOVA_DIRSVC_TEST_*),
OpenLDAP's command-line tools as the independent check, the `Tool` that runs the binary, and
test records. Imported by the test modules; conftest.py holds only pytest's fixtures and hooks."""
import base64
import json
import os
import socket
import subprocess
import tempfile
import time
import uuid
import uuid as uuidlib
from pathlib import Path


ENV = os.environ
FIXTURES = Path(__file__).resolve().parent.parent / "Fixtures" / "nova"
BIN = ENV.get("NOVA_DIRSVC_BIN") or str(Path(__file__).resolve().parents[2] / ".build" / "debug" / "nova-dirsvc")

URI = ENV.get("NOVA_DIRSVC_TEST_URI", "")
LDAPI = ENV.get("NOVA_DIRSVC_TEST_LDAPI_URI", "")
BASE = ENV.get("NOVA_DIRSVC_TEST_BASE_DN", "")
SERVICE_DN = ENV.get("NOVA_DIRSVC_TEST_SERVICE_DN", "")
SERVICE_PW_FILE = ENV.get("NOVA_DIRSVC_TEST_SERVICE_PASSWORD_FILE", "")


# Never the machine's real spool (/var/spool/nova-dirsvc) for a command a test runs without
# --spool-dir: a private one for the whole session.
os.environ.setdefault("NOVA_DIRSVC_SPOOL_DIR", tempfile.mkdtemp(prefix="nova-dirsvc-test-spool-"))



ROOT = Path(__file__).resolve().parents[2]


def ldap(tool, *args, input=None, check=True):
    """Runs an OpenLDAP tool as cn=Directory Manager (SASL EXTERNAL over ldapi)."""
    proc = subprocess.run([tool, "-Q", "-Y", "EXTERNAL", "-H", LDAPI, *args], input=input,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{tool} {args} exited {proc.returncode}: {proc.stderr}")
    return proc


def parse_ldif(text):
    """ldapsearch -LLL -o ldif-wrap=no output -> {dn: {attr_lower: [values]}}."""
    entries = {}
    for block in text.strip().split("\n\n"):
        dn, attrs = None, {}
        for line in block.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, rest = line.partition(":")
            if rest.startswith(":"):
                value = base64.b64decode(rest[1:].strip()).decode("utf-8")
            else:
                value = rest[1:] if rest.startswith(" ") else rest
            if name.lower() == "dn":
                dn = value
            else:
                attrs.setdefault(name.lower(), []).append(value)
        if dn is not None:
            entries[dn.lower()] = attrs
    return entries


def search(base, scope="sub", filt="(objectClass=*)", *attrs):
    proc = ldap("ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-b", base, "-s", scope, filt, *attrs, check=False)
    if proc.returncode == 32:
        return {}
    assert proc.returncode == 0, proc.stderr
    return parse_ldif(proc.stdout)


def dump(base):
    """Every entry under base with user and operational attributes, byte for byte."""
    proc = ldap("ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-b", base, "(objectClass=*)", "*", "+")
    return proc.stdout


class Tool:
    """Runs the nova-dirsvc binary against a container, as the least-privilege service account."""

    def __init__(self, base_dn, log_file):
        self.base_dn = base_dn
        self.log_file = log_file
        self.spool_dir = Path(log_file).parent / "spool"

    def connection_args(self, **overrides):
        """The connection flags; a keyword (uri=..., password_file=..., timeout=...) replaces one."""
        settings = {"uri": URI, "bind_dn": SERVICE_DN, "password_file": SERVICE_PW_FILE,
                    "base_dn": self.base_dn, "log_file": str(self.log_file), "timeout": "5",
                    "spool_dir": str(self.spool_dir)}
        settings.update(overrides)
        return [arg for key, value in settings.items() if value is not None
                for arg in ("--" + key.replace("_", "-"), value)]

    def run(self, *args, input=None, connection=True, env=None, **overrides):
        argv = [BIN, *args, *(self.connection_args(**overrides) if connection else [])]
        return subprocess.run(argv, input=input, capture_output=True, env=env,
                              text=not isinstance(input, bytes))

    def log_lines(self):
        if not Path(self.log_file).exists():
            return []
        return [json.loads(line) for line in Path(self.log_file).read_text().splitlines()]


# --- budgets ------------------------------------------------------------------------------
# A test that checks a command keeps to its time budget compares the command against a
# reference timed here and now, not against the wall clock of an idle machine: on a busy
# 2-core machine (a build alongside) starting the binary alone can take a second. The
# reference is the same binary doing the same kind of work without waiting for anything.

def reference_seconds(runs=3):
    """The slowest of `runs` check-config runs against a closed port: what starting the binary,
    reading the settings, failing a connect and exiting cost at this moment (the overhead every
    budgeted command pays on top of its budget)."""
    port = free_port()
    slowest = 0.0
    for _ in range(runs):
        start = time.monotonic()
        subprocess.run([BIN, "check-config", "--config", "/dev/null", "--uri", f"ldap://127.0.0.1:{port}",
                        "--base-dn", "dc=example,dc=com", "--timeout", "1"], capture_output=True)
        slowest = max(slowest, time.monotonic() - start)
    return slowest


def assert_within_budget(elapsed, budget, reference, what="the command"):
    """`elapsed` (wall seconds of one run) is at most `budget` plus what any run costs now
    (`reference`, from `reference_seconds`) three times over, plus a second."""
    allowed = budget + 3 * reference + 1.0
    assert elapsed < allowed, (f"{what} took {elapsed:.2f} s: more than its budget of {budget} s "
                               f"+ 3 x {reference:.2f} s (a run that waits for nothing, timed now) + 1 s")


def fixture_text(name):
    return (FIXTURES / name).read_text()


def record(uuid=None, **fields):
    """A register record (the DICT), with a fresh UUID unless given; fields override."""
    r = {"instance_uuid": uuid or str(uuidlib.uuid4()), "image_uuid": "035c2bc7-f2be-4607-afcf-c3b6237e9fe5",
         "mac_address": "fa:16:3e:56:50:29", "project_name": "admin", "user_name": "admin",
         "user_remote_address": "192.168.122.97"}
    r.update(fields)
    return r


def free_port():
    """A loopback TCP port that nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def managed(container):
    """{uuid: attributes} of the managed entries directly under the container."""
    return {a["novainstanceuuid"][0]: a for a in search(container, "one", "(objectClass=novaInstance)").values()}


def server_pid():
    """The test 389-ds's process (from its pid file: a test may have restarted it)."""
    return int(Path(ENV["NOVA_DIRSVC_TEST_DS_DIR"], "run/dirsrv/slapd-ds.pid").read_text())


def restart_server():
    """Starts the test 389-ds again (after a test killed it), on its port, with its data."""
    import time
    env = {k: v for k, v in os.environ.items() if not k.startswith("DS_")}
    for attempt in range(3):  # the killed server's port may take a moment to be free again
        proc = subprocess.run([str(ROOT / "scripts/ds-start.sh"), ENV["NOVA_DIRSVC_TEST_DS_DIR"], ENV["NOVA_DIRSVC_TEST_DS_PORT"]],
                              capture_output=True, text=True, env=env)
        if proc.returncode == 0:
            return
        time.sleep(1)
    raise AssertionError(f"389-ds did not restart: {proc.stderr}")
