"""nova-dirsvc against OpenLDAP's tools on the same 389-ds (started by bench/run.sh).

1. One register, a fresh `nova-dirsvc register` process end to end (start-up, bind, add),
   against one `ldapadd` process adding the same entry (bind, add): RUNS runs each, medians.
2. reconcile adding 10,000 instances to an empty container, against `ldapadd -f` of the same
   10,000 entries as LDIF (another empty container).
3. reconcile with nothing to change over 10,000 and 100,000 entries, against a paged
   `ldapsearch` reading the same entries and attributes; peak memory from /usr/bin/time -v.
Both sides bind as the same service account over ldap://127.0.0.1.
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ENV = os.environ
BIN = ENV["NOVA_DIRSVC_BIN"]
URI, LDAPI = ENV["NOVA_DIRSVC_TEST_URI"], ENV["NOVA_DIRSVC_TEST_LDAPI_URI"]
BASE = ENV["NOVA_DIRSVC_TEST_BASE_DN"]
SERVICE_DN, SERVICE_PW = ENV["NOVA_DIRSVC_TEST_SERVICE_DN"], ENV["NOVA_DIRSVC_TEST_SERVICE_PASSWORD_FILE"]
QUICK = "--quick" in sys.argv
RUNS = 10 if QUICK else 25
BIG = 20_000 if QUICK else 100_000
LOG = tempfile.mktemp(prefix="bench-events-", suffix=".log")
ATTRS = ["objectClass", "novaInstanceUUID", "novaImageUUID", "macAddress", "novaProjectName", "novaUserName",
         "novaUserRemoteAddress", "novaHostname", "novaIPAddress", "novaProjectID", "novaUserID",
         "createTimestamp", "modifyTimestamp"]
rows = []


def container(name):
    dn = f"ou={name},{BASE}"
    subprocess.run(["ldapadd", "-Q", "-Y", "EXTERNAL", "-H", LDAPI], check=True, capture_output=True, text=True,
                   input=f"dn: {dn}\nobjectClass: organizationalUnit\nou: {name}\n")
    return dn


def tool_args(base):
    return ["--uri", URI, "--bind-dn", SERVICE_DN, "--password-file", SERVICE_PW, "--base-dn", base,
            "--log-file", LOG, "--timeout", "30"]


def record():
    return {"instance_uuid": str(uuid.uuid4()), "image_uuid": "035c2bc7-f2be-4607-afcf-c3b6237e9fe5",
            "mac_address": "fa:16:3e:56:50:29", "project_name": "admin", "user_name": "admin",
            "user_remote_address": "192.168.122.97"}


def ldif(base, r):
    u = r["instance_uuid"]
    return (f"dn: cn={u},{base}\nobjectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\n"
            f"objectClass: inetOrgPerson\nobjectClass: ieee802Device\nobjectClass: novaInstance\ncn: {u}\nsn: {u}\n"
            f"novaInstanceUUID: {u}\nnovaImageUUID: {r['image_uuid']}\nmacAddress: {r['mac_address']}\n"
            f"novaProjectName: admin\nnovaUserName: admin\nnovaUserRemoteAddress: 192.168.122.97\n\n")


def timed(argv, stdin=None):
    """Wall time of one process, and its peak RSS (KiB) from /usr/bin/time -v."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *argv], stdin=stdin, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{argv[0]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return elapsed, rss


def row(name, ours, theirs, ours_rss=None, theirs_rss=None, note=""):
    rows.append((name, ours, theirs, ours / theirs, ours_rss, theirs_rss, note))
    print(f"  {name}: nova-dirsvc {ours:.4f} s, OpenLDAP {theirs:.4f} s, ratio {ours / theirs:.2f}", flush=True)


def single_register():
    print(f"1. one register, fresh process, {RUNS} runs each", flush=True)
    ours_base, theirs_base = container("bench-reg-tool"), container("bench-reg-ldapadd")
    ours, theirs = [], []
    for _ in range(RUNS):  # interleaved, so that drift in the server affects both alike
        r = record()
        path = tempfile.mktemp(suffix=".json")
        with open(path, "w") as f:
            json.dump(r, f)
        ours.append(timed([BIN, "register", "--event", path, *tool_args(ours_base)])[0])
        with open(path, "w") as f:
            f.write(ldif(theirs_base, r))
        with open(path) as f:
            theirs.append(timed(["ldapadd", "-x", "-H", URI, "-D", SERVICE_DN, "-y", SERVICE_PW], stdin=f)[0])
        os.unlink(path)
    row("register (median of %d)" % RUNS, statistics.median(ours), statistics.median(theirs))


def bulk_add(n):
    print(f"2. adding {n:,} entries", flush=True)
    records = [record() for _ in range(n)]
    ours_base, theirs_base = container(f"bench-add-tool-{n}"), container(f"bench-add-ldapadd-{n}")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(records, f)
        instances = f.name
    with tempfile.NamedTemporaryFile("w", suffix=".ldif", delete=False) as f:
        for r in records:
            f.write(ldif(theirs_base, r))
        ldif_path = f.name
    ours, ours_rss = timed([BIN, "reconcile", "--instances", instances, *tool_args(ours_base)])
    theirs, theirs_rss = timed(["ldapadd", "-x", "-H", URI, "-D", SERVICE_DN, "-y", SERVICE_PW, "-f", ldif_path])
    row(f"reconcile adding {n:,} vs ldapadd -f", ours, theirs, ours_rss, theirs_rss,
        f"{n / ours:.0f} vs {n / theirs:.0f} entries/s")
    os.unlink(ldif_path)
    return ours_base, instances


def noop(base, instances, n):
    print(f"3. no-op reconcile over {n:,} entries", flush=True)
    ours, ours_rss = timed([BIN, "reconcile", "--check", "--instances", instances, *tool_args(base)])
    theirs, theirs_rss = timed(["ldapsearch", "-x", "-H", URI, "-D", SERVICE_DN, "-y", SERVICE_PW, "-LLL",
                                "-E", "pr=1000/noprompt", "-s", "one", "-b", base, "(objectClass=novaInstance)", *ATTRS])
    row(f"no-op reconcile of {n:,} vs ldapsearch (paged)", ours, theirs, ours_rss, theirs_rss)


def main():
    single_register()
    base, instances = bulk_add(10_000)
    noop(base, instances, 10_000)
    big_base = container("bench-big")
    records = [record() for _ in range(BIG)]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(records, f)
        big = f.name
    print(f"   loading {BIG:,} entries with reconcile (not timed against anything)...", flush=True)
    load, _ = timed([BIN, "reconcile", "--instances", big, *tool_args(big_base)])
    print(f"   loaded in {load:.0f} s ({BIG / load:.0f}/s)", flush=True)
    noop(big_base, big, BIG)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    ds = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "389-ds-base"], capture_output=True, text=True).stdout
    print(f"\nmachine: {os.cpu_count()} cores ({cpu}), {platform.platform()}, 389-ds-base {ds}, "
          f"client and server on the same machine\n")
    print("| measurement | nova-dirsvc | OpenLDAP tool | ratio | peak RSS nova-dirsvc | peak RSS tool | note |")
    print("|---|---|---|---|---|---|---|")
    for name, ours, theirs, ratio, ours_rss, theirs_rss, note in rows:
        mb = lambda k: f"{k / 1024:.1f} MB" if k else ""
        print(f"| {name} | {ours:.4f} s | {theirs:.4f} s | {ratio:.2f} | {mb(ours_rss)} | {mb(theirs_rss)} | {note} |")


if __name__ == "__main__":
    main()
