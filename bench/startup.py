"""The CLI's start-up, before and after a change: `nova-dirsvc schema` (start-up alone) and one
`register` (start-up, bind, add), two binaries interleaved RUNS times against the same 389-ds;
medians. Run by bench/startup.sh, which builds the older binary. Not a test."""
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

E = os.environ
old, new = sys.argv[1], sys.argv[2]
RUNS = 40
base = E["NOVA_DIRSVC_TEST_BASE_DN"]
args = ["--uri", E["NOVA_DIRSVC_TEST_URI"], "--bind-dn", E["NOVA_DIRSVC_TEST_SERVICE_DN"], "--password-file",
        E["NOVA_DIRSVC_TEST_SERVICE_PASSWORD_FILE"], "--base-dn", base, "--log-file", "/dev/null"]
env = {k: v for k, v in E.items() if not k.startswith("NOVA_DIRSVC_")}
env["NOVA_DIRSVC_SPOOL_DIR"] = E.get("TMPDIR", "/tmp") + "/startup-bench-spool"


def run(argv, stdin=None):
    start = time.perf_counter()
    subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


times = {(name, what): [] for name in ("before", "after") for what in ("schema", "register")}
for _ in range(RUNS):
    for name, binary in (("before", old), ("after", new)):
        times[(name, "schema")].append(run([binary, "schema"]))
        record = {"instance_uuid": str(uuid.uuid4()), "image_uuid": None, "mac_address": [], "project_name": "p",
                  "user_name": "u", "user_remote_address": None}
        times[(name, "register")].append(run([binary, "register", "--event", "-", *args], json.dumps(record).encode()))
print("| command | before | after | after / before |\n|---|---|---|---|")
for what in ("schema", "register"):
    b, a = statistics.median(times[("before", what)]) * 1000, statistics.median(times[("after", what)]) * 1000
    print(f"| `nova-dirsvc {what}` (median of {RUNS}) | {b:.2f} ms | {a:.2f} ms | {a / b:.3f} |")
