"""`nova-dirsvc serve` against `ldapadd -f` on the same 389-ds and a local RabbitMQ (both started
by bench/run.sh). Publishes with the real publisher (oslo.messaging + Nova's RequestContext,
Tests/cli/nova_bus.py, from the test venv).

1. Throughput: N instance.create.end notifications wait in serve's queue; serve is started and
   the clock runs until the last entry is confirmed (its event-log line); against `ldapadd -f`
   adding the same N entries (same attributes) to another empty container.
2. Latency: a steady 50 notifications/s for LAT_SECONDS; for each, from the moment oslo.messaging's
   notify() returned to the time of the event-log line serve writes once 389-ds confirmed the
   add (milliseconds); p50 and p99. A sample is checked with ldapsearch.
3. Memory: serve's resident set (VmRSS) as MEM_TOTAL messages go through: creates and deletes,
   updates of absent instances (a read each) and ignored event types.
4. HTTP, one register: POST /v1/instances on a keep-alive connection to a running serve
   (already bound) against one `ldapadd` process adding the same entry; medians of RUNS.
5. HTTP, HTTP_N registers from 16 concurrent keep-alive clients against `ldapadd -f` of the same
   entries.
Not a test: nothing here passes or fails.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests/cli"))
import nova_bus  # noqa: E402
import serve_helpers  # noqa: E402
from bench import container  # noqa: E402  (bench/ is on the path: this script's folder)

ENV = os.environ
BIN = ENV["NOVA_DIRSVC_BIN"]
URI, LDAPI = ENV["NOVA_DIRSVC_TEST_URI"], ENV["NOVA_DIRSVC_TEST_LDAPI_URI"]
BASE = ENV["NOVA_DIRSVC_TEST_BASE_DN"]
SERVICE_DN, SERVICE_PW = ENV["NOVA_DIRSVC_TEST_SERVICE_DN"], ENV["NOVA_DIRSVC_TEST_SERVICE_PASSWORD_FILE"]
AMQP_URL = ENV["NOVA_DIRSVC_BENCH_AMQP_URL"]
QUICK = "--quick" in sys.argv
N = 2_000 if QUICK else 10_000
LAT_SECONDS = 10 if QUICK else 30
MEM_TOTAL = 20_000 if QUICK else 100_000
WORK = Path(tempfile.mkdtemp(prefix="bench-serve-"))
SAMPLE = json.loads((ROOT / "Tests/Fixtures/nova/instance-create-end.json").read_text())["payload"]["nova_object.data"]


def count(base):
    out = subprocess.run(["ldapsearch", "-Q", "-Y", "EXTERNAL", "-H", LDAPI, "-LLL", "-s", "one", "-b", base,
                          "(objectClass=novaInstance)", "1.1"], capture_output=True, text=True).stdout
    return out.count("dn: ")


class Serve:
    def __init__(self, name, base, http_port=None):
        self.dir = WORK / name
        self.dir.mkdir(mode=0o700)
        self.log = self.dir / "events.log"
        self.exchange, self.queue = f"nova-{name}", f"nova-dirsvc-{name}"
        self.conf = self.dir / "serve.conf"
        self.conf.write_text(f"[ldap]\nuri = {URI}\nbind_dn = {SERVICE_DN}\npassword_file = {SERVICE_PW}\n"
                             f"base_dn = {base}\nlog_file = {self.log}\nspool_dir = {self.dir / 'spool'}\n"
                             + (f"[http]\nlisten = 127.0.0.1:{http_port}\n" if http_port else
                                f"[amqp]\ntransport_url = {AMQP_URL}\nexchange = {self.exchange}\nqueue = {self.queue}\n"))
        self.http_port = http_port
        self.nova_durable = False  # how Nova declared its exchange (durable under rabbit_quorum_queue)
        self.conf.chmod(0o600)
        self.proc = None

    def start(self):
        if not self.http_port:  # Nova's exchange, as a running Nova has it (serve only looks it up)
            serve_helpers.declare_nova_exchange(self.exchange, int(AMQP_URL.rsplit(":", 1)[1].strip("/")),
                                                durable=self.nova_durable)
        env = {k: v for k, v in ENV.items() if not k.startswith("NOVA_DIRSVC_")}
        self.err = open(self.dir / "stderr", "ab")
        self.proc = subprocess.Popen([BIN, "serve", "--config", str(self.conf), "--stats-interval", "0"],
                                     stderr=self.err, env=env)
        ready = b"http: listening" if self.http_port else b"broker: connected"
        while ready not in (self.dir / "stderr").read_bytes():
            assert self.proc.poll() is None, (self.dir / "stderr").read_text()
            time.sleep(0.05)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)

    def lines(self):
        """Lines in the event log so far, read incrementally (re-reading a growing log every few
        milliseconds would take CPU from the server being measured)."""
        if not self.log.exists():
            return 0
        with open(self.log, "rb") as f:
            f.seek(getattr(self, "_offset", 0))
            chunk = f.read()
        self._offset = getattr(self, "_offset", 0) + len(chunk)
        self._lines = getattr(self, "_lines", 0) + chunk.count(b"\n")
        return self._lines

    def rss_mb(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


def ldif(base, uuid):
    d = SAMPLE
    ip = d["ip_addresses"][0]["nova_object.data"]
    return (f"dn: cn={uuid},{base}\nobjectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\n"
            f"objectClass: inetOrgPerson\nobjectClass: ieee802Device\nobjectClass: novaInstance\ncn: {uuid}\n"
            f"sn: {uuid}\nnovaInstanceUUID: {uuid}\nnovaImageUUID: {d['image_uuid']}\nmacAddress: {ip['mac']}\n"
            f"novaProjectName: demo-project\nnovaUserName: demo-user\nnovaHostname: {d['host_name']}\n"
            f"novaIPAddress: {ip['address']}\nnovaProjectID: {d['tenant_id']}\nnovaUserID: {d['user_id']}\n\n")


def fill(exchange, n, durable=False):
    """n create.end notifications of new instances, published as Nova publishes them; their UUIDs."""
    publisher = nova_bus.Publisher(AMQP_URL, exchange=exchange, durable=durable)
    ctxt = nova_bus.context()
    uuids = [str(uuidlib.uuid4()) for _ in range(n)]
    for u in uuids:
        publisher.send_sample("instance-create-end.json", u, ctxt)
    publisher.close()
    return uuids


def drain(serve, n):
    """Starts serve on its filled queue: seconds until it logged n events (start-up and bind included)."""
    start = time.perf_counter()
    serve.start()
    while serve.lines() < n:
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    serve.stop()
    return seconds


def throughput():
    print(f"1. {N:,} create.end notifications from the queue vs ldapadd -f of the same entries", flush=True)
    ours_base, theirs_base = container("bench-serve-tp"), container("bench-serve-ldapadd")
    serve = Serve("tp", ours_base)
    serve.start()
    serve.stop()  # its queue exists: the notifications wait there
    uuids = fill(serve.exchange, N)
    ours = drain(serve, N)
    assert count(ours_base) == N
    with tempfile.NamedTemporaryFile("w", suffix=".ldif", delete=False) as f:
        for u in uuids:
            f.write(ldif(theirs_base, u))
    start = time.perf_counter()
    subprocess.run(["ldapadd", "-x", "-H", URI, "-D", SERVICE_DN, "-y", SERVICE_PW, "-f", f.name], check=True,
                   stdout=subprocess.DEVNULL)
    theirs = time.perf_counter() - start
    print(f"   serve {N / ours:.0f}/s ({ours:.1f} s, start-up and bind included), ldapadd -f {N / theirs:.0f}/s "
          f"({theirs:.1f} s): {theirs / ours:.2f}x", flush=True)
    return ours, theirs


def running(name):
    """A started serve on a fresh container, a publisher to its exchange, Nova's context."""
    base = container(f"bench-serve-{name}")
    serve = Serve(name, base)
    serve.start()
    return base, serve, nova_bus.Publisher(AMQP_URL, exchange=serve.exchange), nova_bus.context()


def latency():
    print(f"2. latency at a steady 50 notifications/s for {LAT_SECONDS} s", flush=True)
    base, serve, publisher, ctxt = running("lat")
    sent = {}
    next_at = time.time()
    for _ in range(50 * LAT_SECONDS):
        next_at += 0.02
        time.sleep(max(0.0, next_at - time.time()))
        u = str(uuidlib.uuid4())
        publisher.send_sample("instance-create-end.json", u, ctxt)
        sent[u] = time.time()
    publisher.close()
    while serve.lines() < len(sent):
        time.sleep(0.05)
    serve.stop()
    latencies = []
    for line in serve.log.read_text().splitlines():
        entry = json.loads(line)
        seen = datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
        latencies.append((seen - sent[entry["instance_uuid"]]) * 1000)
    assert count(base) == len(sent)
    latencies.sort()
    p50, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]
    print(f"   publish to confirmed: p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(latencies)} (event-log times "
          f"have 1 ms resolution)", flush=True)
    return p50, p99


def memory():
    print(f"3. serve's memory over {MEM_TOTAL:,} messages", flush=True)
    _, serve, publisher, ctxt = running("mem")
    samples = [(0, serve.rss_mb())]
    sent = 0
    block = MEM_TOTAL // 10
    while sent < MEM_TOTAL:
        # a block: 10% creates, 10% their deletes, 40% updates of absent instances, 40% ignored
        uuids = [str(uuidlib.uuid4()) for _ in range(block // 10)]
        for u in uuids:
            publisher.send_sample("instance-create-end.json", u, ctxt)
        for u in uuids:
            publisher.send_sample("instance-delete-end.json", u, ctxt)
        for _ in range(block * 4 // 10):
            publisher.send_sample("instance-update.json", str(uuidlib.uuid4()), ctxt)
        for _ in range(block * 4 // 10):
            publisher.send_sample("instance-power_off-end.json", str(uuidlib.uuid4()), ctxt)
        sent += block
        while serve.lines() < sent:
            time.sleep(0.1)
        samples.append((sent, serve.rss_mb()))
        print(f"   {sent:,} messages: {samples[-1][1]:.1f} MB", flush=True)
    publisher.close()
    serve.stop()
    return samples


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ldapadd(ldif_text):
    """One `ldapadd` process adding what `ldif_text` holds; its wall time."""
    with tempfile.NamedTemporaryFile("w", suffix=".ldif", delete=False) as f:
        f.write(ldif_text)
    start = time.perf_counter()
    subprocess.run(["ldapadd", "-x", "-H", URI, "-D", SERVICE_DN, "-y", SERVICE_PW, "-f", f.name], check=True,
                   stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    os.unlink(f.name)
    return elapsed


def dict_record(uuid):
    d = SAMPLE
    ip = d["ip_addresses"][0]["nova_object.data"]
    return {"instance_uuid": uuid, "image_uuid": d["image_uuid"], "mac_address": ip["mac"], "project_name": "demo-project",
            "user_name": "demo-user", "user_remote_address": None, "hostname": d["host_name"], "ip_addresses": [ip["address"]],
            "project_id": d["tenant_id"], "user_id": d["user_id"]}


def http_single():
    import http.client
    runs = 20 if QUICK else 50
    print(f"4. one register over HTTP (keep-alive, serve bound) vs one ldapadd process, {runs} runs each", flush=True)
    ours_base, theirs_base = container("bench-http-one"), container("bench-http-one-ldapadd")
    serve = Serve("http-one", ours_base, http_port=free_port())
    serve.start()
    conn = http.client.HTTPConnection("127.0.0.1", serve.http_port)
    ours, theirs = [], []
    for _ in range(runs):
        u = str(uuidlib.uuid4())
        body = json.dumps(dict_record(u))
        start = time.perf_counter()
        conn.request("POST", "/v1/instances", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        ours.append(time.perf_counter() - start)
        assert response.status == 201, response.status
        theirs.append(ldapadd(ldif(theirs_base, u)))
    serve.stop()
    o, t = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
    print(f"   HTTP {o:.2f} ms, ldapadd {t:.2f} ms: {o / t:.2f}", flush=True)
    return o, t


def http_concurrent():
    import http.client
    from concurrent.futures import ThreadPoolExecutor
    n = 2_000 if QUICK else 5_000
    print(f"5. {n:,} registers over HTTP from 16 concurrent clients vs ldapadd -f", flush=True)
    ours_base, theirs_base = container("bench-http-many"), container("bench-http-many-ldapadd")
    serve = Serve("http-many", ours_base, http_port=free_port())
    serve.start()
    uuids = [str(uuidlib.uuid4()) for _ in range(n)]
    bodies = [json.dumps(dict_record(u)) for u in uuids]

    def client(part):
        conn = http.client.HTTPConnection("127.0.0.1", serve.http_port)
        for body in part:
            conn.request("POST", "/v1/instances", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            assert response.status == 201, response.status

    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(client, [bodies[i::16] for i in range(16)]))
    ours = time.perf_counter() - start
    serve.stop()
    assert count(ours_base) == n
    theirs = ldapadd("".join(ldif(theirs_base, u) for u in uuids))
    print(f"   HTTP {n / ours:.0f}/s, ldapadd -f {n / theirs:.0f}/s: {theirs / ours:.2f}x", flush=True)
    return n / ours, n / theirs


def main():
    if "--http-only" in sys.argv:
        single, concurrent = http_single(), http_concurrent()
        print(f"\n| HTTP register, one, keep-alive | {single[0]:.2f} ms | ldapadd {single[1]:.2f} ms | {single[0] / single[1]:.2f} |")
        print(f"| HTTP registers, 16 clients | {concurrent[0]:.0f}/s | ldapadd -f {concurrent[1]:.0f}/s | {concurrent[0] / concurrent[1]:.2f}x |")
        return
    ours, theirs = throughput()
    p50, p99 = latency()
    samples = memory()
    single, concurrent = http_single(), http_concurrent()
    print("\n| measurement | nova-dirsvc serve | ldapadd -f | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| {N:,} create.end from the queue into 389-ds | {N / ours:.0f}/s | {N / theirs:.0f}/s | "
          f"{theirs / ours:.2f}x | at least 1.0x (goal 1.3x) |")
    print(f"| publish-to-confirmed latency at 50/s | p50 {p50:.1f} ms, p99 {p99:.1f} ms | | | p50 < 50 ms |")
    print(f"| resident memory over {MEM_TOTAL:,} messages | " + ", ".join(f"{m:.1f} MB at {n:,}" for n, m in samples[1::max(1, len(samples) // 4)])
          + f" (last {samples[-1][1]:.1f} MB) | | | flat, < 100 MB |")
    print(f"| one register over HTTP (keep-alive, bound) vs one ldapadd process | {single[0]:.2f} ms | {single[1]:.2f} ms | "
          f"{single[0] / single[1]:.2f} | at most 0.5 (goal 0.3) |")
    print(f"| registers over HTTP from 16 clients vs ldapadd -f | {concurrent[0]:.0f}/s | {concurrent[1]:.0f}/s | "
          f"{concurrent[0] / concurrent[1]:.2f}x | at least 1.0x |")


if __name__ == "__main__":
    main()
