"""reconcile from Nova's API against the same reconcile from files (issue 20), at 100,000 servers
(--quick: 20,000), on the throwaway 389-ds of bench/run.sh. Not a test.

The same servers (Nova's own v2.47 API sample, Tests/Fixtures/nova/servers-detail-v2.47.json,
with a fresh id, MAC address, IP address and host name each) are given:
- as files: the pages of GET /servers/detail (1,000 servers each, with their `next` links),
  `reconcile --instances PAGE1 --instances PAGE2 ...`;
- over HTTP: `reconcile --from-nova`, against a local stand-in for Keystone (a token and a
  catalog) and for nova-api (the same pages, by `marker`), so that what is measured is
  nova-dirsvc's client, not a Python nova-api's rendering of 100,000 servers.
Both run `--check` against an empty container (the plan: every server to add), so nothing is
written and the runs can be repeated; then the servers are written (one real reconcile from the
files) and both run `--check` again against the full container: the no-op reconcile, whose
memory is the directory's index (Reconciler.Planner: the pages are compared as they come and
let go), not the list. Printed: wall time and peak RSS (/usr/bin/time, which counts the page
fetcher `nova-dirsvc-serve --nova-servers` too) of each, and their ratios. The test of the real thing (Keystone and nova-api from PyPI) is
Tests/cli/test_reconcile_nova.py.
"""
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import container  # noqa: E402  (the same throwaway containers as the main benchmark)

ROOT = Path(__file__).resolve().parent.parent
ENV = os.environ
BIN = ENV["NOVA_DIRSVC_BIN"]
URI = ENV["NOVA_DIRSVC_TEST_URI"]
BASE = ENV["NOVA_DIRSVC_TEST_BASE_DN"]
SERVICE_DN, SERVICE_PW = ENV["NOVA_DIRSVC_TEST_SERVICE_DN"], ENV["NOVA_DIRSVC_TEST_SERVICE_PASSWORD_FILE"]
QUICK = "--quick" in sys.argv
COUNT = 20_000 if QUICK else 100_000
PAGE = 1000
RUNS = 3 if QUICK else 1  # the files path at 100,000 takes minutes


def servers(count):
    sample = json.loads((ROOT / "Tests/Fixtures/nova/servers-detail-v2.47.json").read_text())["servers"][0]
    for i in range(count):
        server = copy.deepcopy(sample)
        server["id"] = str(uuid.UUID(int=(0xB1 << 120) + i))
        server["OS-EXT-SRV-ATTR:hostname"] = f"server-{i}"
        server["addresses"] = {"private": [{"OS-EXT-IPS-MAC:mac_addr": f"fa:16:3e:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}",
                                            "OS-EXT-IPS:type": "fixed", "addr": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "version": 4}]}
        yield server


def pages(count, base_url):
    batch = []
    for server in servers(count):
        batch.append(server)
        if len(batch) == PAGE:
            yield batch
            batch = []
    if batch:
        yield batch


def page_document(batch, base_url, last):
    doc = {"servers": batch}
    if not last:
        doc["servers_links"] = [{"rel": "next", "href": f"{base_url}/servers/detail?limit={PAGE}&marker={batch[-1]['id']}"}]
    return json.dumps(doc).encode()


class Cloud:
    """Keystone and nova-api stand-ins: a token with a catalog, and the pages by marker."""

    def __init__(self, documents, markers):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def reply(self, status, body, headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                catalog = [{"type": "compute", "endpoints": [{"interface": "public", "region_id": "RegionOne",
                                                              "url": f"{outer.url}/v2.1"}]}]
                self.reply(201, json.dumps({"token": {"catalog": catalog}}).encode(), [("X-Subject-Token", "bench-token")])

            def do_GET(self):
                marker = self.path.split("marker=")[1].split("&")[0] if "marker=" in self.path else None
                self.reply(200, documents[markers.get(marker, 0)])

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def timed(argv):
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", *argv], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # --check: 1 means drift (every server to add)
    wall, rss = proc.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss) / 1024


def main():
    work = Path(tempfile.mkdtemp(prefix="bench-reconcile-nova-"))
    base = container(f"bench-nova-{uuid.uuid4().hex[:6]}")
    connection = ["--uri", URI, "--bind-dn", SERVICE_DN, "--password-file", SERVICE_PW, "--base-dn", base,
                  "--log-file", str(work / "events.log"), "--spool-dir", str(work / "spool")]
    all_pages = list(pages(COUNT, "http://nova.example.com/v2.1"))
    documents = [page_document(batch, "http://nova.example.com/v2.1", i == len(all_pages) - 1) for i, batch in enumerate(all_pages)]
    markers = {batch[-1]["id"]: i + 1 for i, batch in enumerate(all_pages[:-1])}
    files = []
    for i, document in enumerate(documents):
        path = work / f"page-{i:04d}.json"
        path.write_bytes(document)
        files += ["--instances", str(path)]
    cloud = Cloud(documents, markers)
    config = work / "nova-dirsvc.conf"
    secret = work / "secret"
    secret.write_text("bench")
    secret.chmod(0o600)
    config.write_text(f"[nova]\nauth_url = {cloud.url}/v3\nauth_type = v3applicationcredential\napplication_credential_id = bench\n"
                      f"application_credential_secret_file = {secret}\n")
    config.chmod(0o600)
    size = sum(len(d) for d in documents) / 1e6
    checks = (("files", [BIN, "reconcile", *files, "--check", *connection]),
              ("api", [BIN, "reconcile", "--from-nova", "--config", str(config), "--check", *connection]))

    def compare(what):
        results = {}
        for name, argv in checks:
            runs = [timed(argv) for _ in range(RUNS)]
            results[name] = (statistics.median(r[0] for r in runs), max(r[1] for r in runs))
        print(f"\nreconcile --check of {COUNT:,} servers, {what} ({len(documents)} pages of /servers/detail, "
              f"{size:.0f} MB of JSON), median of {RUNS}:")
        print(f"  {'from':<28}{'wall s':>9}{'peak RSS MB':>14}")
        print(f"  {'files (--instances)':<28}{results['files'][0]:>9.2f}{results['files'][1]:>14.0f}")
        print(f"  {'Nova API (--from-nova)':<28}{results['api'][0]:>9.2f}{results['api'][1]:>14.0f}")
        print(f"  API / files: time {results['api'][0] / results['files'][0]:.2f}x, "
              f"memory {results['api'][1] / results['files'][1]:.2f}x", flush=True)

    compare("against an empty container (every server to add)")
    load = subprocess.run(["/usr/bin/time", "-f", "%e %M", BIN, "reconcile", *files, "--allow-mass-delete", *connection],
                          capture_output=True, text=True)
    assert load.returncode == 0, load.stderr[-2000:]
    print(f"\n(written by one reconcile from the files: {load.stderr.strip().splitlines()[-1].split()[0]} s)")
    compare("all present (a no-op)")
    cloud.server.shutdown()


if __name__ == "__main__":
    main()
